"""Which cluster, and how its API is called.

Which cluster: the kubeconfig in ``KUBECONFIG`` (and its context ``KUBE_CONTEXT``) when
given; otherwise the pod's service account when the process runs in a cluster
(``KUBERNETES_SERVICE_HOST`` set); otherwise none.

The official client is synchronous (urllib3): every call runs in a worker thread with a
(connect, read) timeout, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

IN_CLUSTER_VARIABLE = "KUBERNETES_SERVICE_HOST"


class KubeClient:
    """One configured ``ApiClient`` and its ``CoreV1Api``, called from worker threads."""

    def __init__(self, api_client: k8s.ApiClient, timeout_seconds: float, source: str) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.timeout = (float(timeout_seconds), float(timeout_seconds))
        """``_request_timeout`` of every call: (connect, read) seconds."""
        self.source = source
        """Where the configuration came from (for logs): a kubeconfig path or in-cluster."""

    async def raw(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
        """The undecoded body of a call (``_preload_content=False``), its connection released.

        Reading the bytes ourselves skips the client's model deserialisation, which is slow
        for large objects and mangles log text that happens to parse as JSON.
        """

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
    """A client for the configured cluster, or ``None`` when there is none (blocking).

    Raises whatever the kubernetes package raises for a configuration it cannot load.
    """
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
