"""Which cluster, and how its API is called.

Which cluster: the kubeconfig in ``KUBECONFIG`` (and its context ``KUBE_CONTEXT``) when
given; otherwise the pod's service account when the process runs in a cluster
(``KUBERNETES_SERVICE_HOST`` set); otherwise none.

The client is ``kubernetes_asyncio`` (aiohttp): every call is a coroutine on the event loop,
no thread. Calls are made with ``_preload_content=False`` and their bodies read here:
:meth:`KubeClient.raw` for a whole body, :meth:`KubeClient.open` for a stream (a watch, a
followed log) that the caller reads with ``async for`` and closes; cancelling the reader
and closing the response drops the connection at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = [
    "CALL_ERRORS",
    "TRANSPORT_ERRORS",
    "ApiException",
    "KubeClient",
    "is_not_found",
    "load_client",
]

IN_CLUSTER_VARIABLE = "KUBERNETES_SERVICE_HOST"

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, OSError)
"""What a call raises when the API could not be reached or stopped answering (timeouts are
``TimeoutError``, an ``OSError``); an answer with an error status is an :class:`ApiException`."""
CALL_ERRORS: tuple[type[Exception], ...] = (ApiException, *TRANSPORT_ERRORS)
"""Every way a call can fail that is the API's doing, not a bug."""


class KubeClient:
    """One configured ``ApiClient`` (one aiohttp session) and its ``CoreV1Api``."""

    def __init__(self, api_client: ApiClient, timeout_seconds: float, source: str) -> None:
        self.api_client = api_client
        self.core = CoreV1Api(api_client)
        self.timeout = (float(timeout_seconds), float(timeout_seconds))
        """Every call's (connect, read) timeout in seconds; the read timeout bounds each
        wait for bytes, the answer's headers included."""
        self.source = source
        """Where the configuration came from (for logs): a kubeconfig path or in-cluster."""

    async def open(
        self,
        method: Callable[..., Any],
        /,
        *args: Any,
        read_timeout: float | None,
        **kwargs: Any,
    ) -> aiohttp.ClientResponse:
        """Send the call and return its response once its headers arrived, body unread.

        ``read_timeout`` bounds each wait for bytes (the headers included); ``None`` lets a
        stream stay quiet as long as it likes, and then the headers still get the client's
        read timeout. An error status raises :class:`ApiException` with the API's body. The
        caller reads the body (``response.content``) and must ``close()`` the response:
        that drops the connection, so the server sees a stream end at once.
        """
        connect = self.timeout[0]
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=read_timeout
        )
        headers_deadline = self.timeout[1] if read_timeout is None else None
        # kubernetes_asyncio puts Python's ``True`` in the query; the API (and the official
        # client) spell it ``true``. Options of the client itself (``_...``) stay as given.
        params = {
            k: _query_bool(v) if isinstance(v, bool) and not k.startswith("_") else v
            for k, v in kwargs.items()
        }
        async with asyncio.timeout(headers_deadline):
            response: aiohttp.ClientResponse = await method(
                *args, _preload_content=False, _request_timeout=timeout, **params
            )
        if 200 <= response.status <= 299:
            return response
        try:
            async with asyncio.timeout(self.timeout[1]):
                body = await response.read()
        finally:
            response.close()
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body
        error.headers = response.headers
        raise error

    async def raw(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
        """The undecoded body of a call, its connection released.

        Reading the bytes ourselves skips the client's model deserialisation, which is slow
        for large objects and mangles log text that happens to parse as JSON.
        """
        response = await self.open(method, *args, read_timeout=self.timeout[1], **kwargs)
        try:
            body = await response.read()
        except BaseException:
            response.close()  # a half-read body cannot go back to the pool
            raise
        response.release()
        return body

    async def close(self) -> None:
        """Close the connection pool (the aiohttp session)."""
        await self.api_client.close()


async def load_client(
    kubeconfig: str,
    context: str,
    timeout_seconds: float,
    environ: Mapping[str, str] | None = None,
) -> KubeClient | None:
    """A client for the configured cluster, or ``None`` when there is none.

    Call it on the event loop that will use the client (its aiohttp session belongs to
    that loop). Raises whatever ``kubernetes_asyncio`` raises for a configuration it cannot
    load.
    """
    env = os.environ if environ is None else environ
    if kubeconfig:
        api_client = await k8s_config.new_client_from_config(
            config_file=kubeconfig, context=context or None, persist_config=False
        )
        source = f"kubeconfig {kubeconfig}"
    elif env.get(IN_CLUSTER_VARIABLE):
        configuration = Configuration()
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
        api_client = ApiClient(configuration)
        source = "in-cluster service account"
    else:
        return None
    return KubeClient(api_client, timeout_seconds, source)


def _query_bool(value: bool) -> str:
    return "true" if value else "false"


def is_not_found(exc: BaseException) -> bool:
    """The API answered 404."""
    return isinstance(exc, ApiException) and exc.status == 404
