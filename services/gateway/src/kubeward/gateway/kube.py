"""The gateway's read-only Kubernetes API client, shared by the cluster views (logs, diagrams).

Which cluster (:func:`kubeward.kube.client.load_client`): ``KUBECONFIG``/``KUBE_CONTEXT``,
else in-cluster, else none, and the cluster views answer
``503 {"detail": "Kubernetes client not available"}`` as Kure does. A client that cannot be
configured (unreadable kubeconfig, missing service-account token) is logged and treated as
no cluster: the rest of the gateway keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar
from litestar.exceptions import HTTPException

from kubeward.gateway.settings import Settings
from kubeward.kube.client import TRANSPORT_ERRORS, ApiException, KubeClient, load_client

log = logging.getLogger(__name__)

NOT_AVAILABLE = "Kubernetes client not available"
"""The reference's 503 detail when no cluster is configured."""


def require_kube(kube: KubeClient | None) -> KubeClient:
    """The app's client (the ``kube`` dependency); ``503 Kubernetes client not available``
    when there is none."""
    if kube is None:
        raise HTTPException(status_code=503, detail=NOT_AVAILABLE)
    return kube


@asynccontextmanager
async def kube_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Configure ``app.state.kube`` (``None`` without a cluster) and close it on shutdown."""
    settings: Settings = app.state.settings
    kube: KubeClient | None
    try:
        kube = await load_client(
            settings.kubeconfig, settings.kube_context, settings.kube_request_timeout_seconds
        )
    except Exception as exc:  # a broken kubeconfig must not take the whole gateway down
        log.error("Kubernetes client not configured, cluster views answer 503: %s", exc)
        kube = None
    if kube is None:
        log.info("no Kubernetes cluster configured (KUBECONFIG empty, not in a cluster)")
    else:
        log.info("Kubernetes client configured from %s", kube.source)
    app.state.kube = kube
    try:
        yield
    finally:
        app.state.kube = None
        if kube is not None:
            await kube.close()


class _Status(msgspec.Struct):
    """The fields of a Kubernetes ``Status`` error body that make a useful detail."""

    message: str = ""
    reason: str = ""


_status = msgspec.json.Decoder(_Status)


def api_message(exc: ApiException) -> str:
    """The API server's own message for a failed call (its ``Status``), else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes | str) and body:
        try:
            status = _status.decode(body)
        except msgspec.DecodeError:
            status = _Status()
        if status.message:
            return status.message
    return str(exc.reason or f"HTTP {exc.status}")


def api_error(exc: Exception, not_found: str) -> HTTPException:
    """The gateway's answer to a failed call; ``not_found`` is the 404 detail.

    404 stays a 404; the API refusing the gateway (401/403) is a 502, throttling (429) a
    503, an unreachable API a 503, a timeout a 504, anything else from the API a 502 with its
    message. Never a 500: the caller gets a ``detail``, the log gets the exception.
    """
    if isinstance(exc, ApiException):
        status = exc.status or 0
        message = api_message(exc)
        if status == 404:
            return HTTPException(status_code=404, detail=not_found)
        if status in (401, 403):
            return HTTPException(
                status_code=502,
                detail=f"The Kubernetes API refused the gateway's request ({status}): {message}",
            )
        if status == 429:
            return HTTPException(
                status_code=503, detail=f"The Kubernetes API is throttling requests: {message}"
            )
        return HTTPException(
            status_code=502, detail=f"The Kubernetes API failed ({status or 'TLS'}): {message}"
        )
    log.warning("Kubernetes API call failed: %r", exc)
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return HTTPException(status_code=504, detail="The Kubernetes API did not answer in time")
    if isinstance(exc, TRANSPORT_ERRORS):
        return HTTPException(status_code=503, detail="The Kubernetes API is unreachable")
    return HTTPException(status_code=502, detail="The Kubernetes API call failed")
