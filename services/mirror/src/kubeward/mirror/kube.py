"""The mirror service's Kubernetes client: the only one in kubeward that writes (pods).

Which cluster: ``KUBECONFIG`` (and ``KUBE_CONTEXT``) when set; otherwise the pod's service
account when running in a cluster; otherwise none. The official client is synchronous:
every call runs in a worker thread with a (connect, read) timeout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config

T = TypeVar("T")
IN_CLUSTER_VARIABLE = "KUBERNETES_SERVICE_HOST"


class KubeClient:
    """One ``ApiClient`` and its ``CoreV1Api``."""

    def __init__(self, api_client: k8s.ApiClient, timeout_seconds: float, source: str) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.timeout = (float(timeout_seconds), float(timeout_seconds))
        self.source = source

    async def call(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one blocking client method in a worker thread, with the request timeout."""
        kwargs.setdefault("_request_timeout", self.timeout)
        return await asyncio.to_thread(method, *args, **kwargs)

    async def call_raw(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
        """The undecoded body of a call (no model deserialisation)."""

        def fetch() -> bytes:
            response = method(
                *args, _preload_content=False, _request_timeout=self.timeout, **kwargs
            )
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        return await asyncio.to_thread(fetch)

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()  # type: ignore[no-untyped-call]


def load_client(
    kubeconfig: str,
    context: str,
    timeout_seconds: float,
    environ: Mapping[str, str] | None = None,
) -> KubeClient | None:
    """A client for the configured cluster, or ``None`` (blocking; raises on a broken config)."""
    env = os.environ if environ is None else environ
    if kubeconfig:
        api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context or None, persist_config=False
        )
        source = f"kubeconfig {kubeconfig}"
    elif env.get(IN_CLUSTER_VARIABLE):
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
        api_client = k8s.ApiClient(configuration)
        source = "in-cluster service account"
    else:
        return None
    return KubeClient(api_client, timeout_seconds, source)


def is_not_found(exc: BaseException) -> bool:
    """The API answered 404."""
    return isinstance(exc, k8s.ApiException) and exc.status == 404
