"""``/health``, ``/metrics`` (with ingest's counters relayed over the bus) and docs redirects."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.response import Redirect
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest

from kubeward.core.bus import NoRespondersError
from kubeward.gateway.auth import DOCS_PATH
from kubeward.gateway.buslink import BusLink
from kubeward.schemas import bus

log = logging.getLogger(__name__)

METRICS_TIMEOUT = 2.0
"""Seconds a scrape waits for ingest's counters before answering without them."""

REQUESTS = Counter(
    "kubeward_gateway_requests",
    "HTTP requests answered, by method and status.",
    ["method", "status"],
)


class ObservabilityController(Controller):
    """Liveness, metrics and the documentation's well-known addresses; all public."""

    opt = {"public": True}
    tags = ["observability"]

    @get("/health", summary="Liveness and bus connectivity")
    async def health(self, state: State) -> Response[dict[str, Any]]:
        """200 with ``status: ok`` while the gateway is connected to NATS, else 503."""
        link: BusLink = state.bus
        ok = bool(link.nc.is_connected)
        body = {"status": "ok" if ok else "unhealthy", "service": "gateway", "checks": {"nats": ok}}
        return Response(body, status_code=200 if ok else 503)

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, state: State) -> Response[bytes]:
        """The gateway's own metrics followed by ingest's counters (when ingest answers)."""
        link: BusLink = state.bus
        text = generate_latest(REGISTRY)
        try:
            text += await link.request(bus.RPC_INGEST_METRICS, b"", timeout=METRICS_TIMEOUT)
        except (TimeoutError, NoRespondersError):
            log.warning("ingest did not answer the metrics request")
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @get("/redoc", include_in_schema=False)
    async def redoc(self) -> Redirect:
        """ReDoc where Kure serves it."""
        return Redirect(f"{DOCS_PATH}/redoc")

    @get("/openapi.json", include_in_schema=False)
    async def openapi(self) -> Redirect:
        """The OpenAPI document where FastAPI-based clients look for it."""
        return Redirect(f"{DOCS_PATH}/openapi.json")
