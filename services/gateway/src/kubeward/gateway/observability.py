"""``/health``, ``/metrics`` (with the services' counters relayed over the bus) and docs
redirects."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.response import Redirect
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest

from kubeward.core.app_settings import AppSettings
from kubeward.core.bus import NoRespondersError
from kubeward.core.health import OK, Check, HealthReport, health_report
from kubeward.core.metrics import gather, merge
from kubeward.gateway.auth import DOCS_PATH
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.responses import declare
from kubeward.gateway.settings import Settings
from kubeward.schemas import asyncapi, bus
from kubeward.schemas.settings import LLM_CONFIG

log = logging.getLogger(__name__)

VERSION = "0.1.0"
METRICS_TIMEOUT = 2.0
"""Seconds a scrape waits for the services' counters (asked all at once) before answering
without those that did not answer."""
METRICS_SUBJECTS = tuple((s, bus.metrics_subject(s)) for s in bus.METRICS_SERVICES)

ASYNCAPI = asyncapi.render().encode()
SERVICES = ("ingest", "traffic-store", "failure-analyzer", "security", "mirror")

REQUESTS = Counter(
    "kubeward_gateway_requests",
    "HTTP requests answered, by method and status.",
    ["method", "status"],
)


class ObservabilityController(Controller):
    """Liveness, metrics and the documentation's well-known addresses; all public."""

    opt = {"public": True}
    tags = ["observability"]

    @get("/health", summary="Readiness: NATS, MongoDB and Redis answer")
    async def health(self, checks: NamedDependency[dict[str, Check]]) -> Response[HealthReport]:
        """200 with ``status: ok`` while NATS, MongoDB and Redis answer; else 503 with
        ``status: degraded`` and the checks that failed (the gateway recovers by itself)."""
        report = await health_report("gateway", checks)
        return Response(report, status_code=200 if report.status == OK else 503)

    @get("/live", summary="Liveness: the process serves requests")
    async def live(self) -> dict[str, str]:
        """200 while the process answers at all (a dependency being away is not a reason
        to restart the gateway)."""
        return {"status": "alive", "service": "gateway"}

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, link: NamedDependency[BusLink]) -> Response[bytes]:
        """The gateway's own metrics and the counters of ingest, failure-analyzer and security
        (those that answer within :data:`METRICS_TIMEOUT`), merged into one page."""
        pages = await gather(link.request, METRICS_SUBJECTS, METRICS_TIMEOUT)
        text = merge([generate_latest(REGISTRY), *pages])
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @get(
        f"{DOCS_PATH}/asyncapi.json",
        summary="AsyncAPI document of the bus",
        # The handler returns the rendered bytes; without this the document said "a string".
        responses=declare(dict[str, Any], "The AsyncAPI 3.0 document (an object)"),
    )
    async def asyncapi_document(self) -> Response[bytes]:
        """The bus contract (streams, subjects, payload schemas) collectors build against."""
        return Response(ASYNCAPI, media_type="application/json")

    @get("/redoc", include_in_schema=False)
    async def redoc(self) -> Redirect:
        """ReDoc where Kure serves it."""
        return Redirect(f"{DOCS_PATH}/redoc")

    @get("/openapi.json", include_in_schema=False)
    async def openapi(self) -> Redirect:
        """The OpenAPI document where FastAPI-based clients look for it."""
        return Redirect(f"{DOCS_PATH}/openapi.json")


class ConfigController(Controller):
    """``GET /api/config``: what this deployment is and whether its parts answer."""

    path = "/api/config"
    tags = ["config"]

    @get("/", summary="App status")
    async def config(
        self,
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """Kure's ``ai_enabled`` / ``ai_provider`` (an LLM is configured), then version,
        auth mode and each service's health (asked over the bus, 2 s each)."""
        reports = await asyncio.gather(*(_health(link, name) for name in SERVICES))
        services = dict(zip(SERVICES, reports, strict=True))
        llm = app_settings.get(LLM_CONFIG)
        return {
            "ai_enabled": llm is not None,
            "ai_provider": llm.provider if llm is not None else None,
            "version": VERSION,
            "auth": {"sessions": True, "service_token": bool(settings.service_token)},
            "status": "ok" if all(r["status"] == "ok" for r in reports) else "degraded",
            "services": services,
        }


async def _health(link: BusLink, service: str) -> dict[str, Any]:
    try:
        raw = await link.request(bus.RPC_HEALTH_PREFIX + service, b"", timeout=METRICS_TIMEOUT)
    except (TimeoutError, NoRespondersError):
        return {"status": "unavailable", "checks": {}}
    report: dict[str, Any] = msgspec.json.decode(raw)
    return {"status": report["status"], "checks": report["checks"]}
