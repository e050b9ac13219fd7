"""The gateway's Litestar application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.types import Message, Scope

from kubeward.gateway.auth import DOCS_PATH, require_service_token
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import http_exception, internal_error
from kubeward.gateway.http_traffic import HttpTrafficController
from kubeward.gateway.observability import REQUESTS, ObservabilityController
from kubeward.gateway.pod_traffic import PodTrafficController
from kubeward.gateway.settings import Settings


def create_app(settings: Settings) -> Litestar:
    """Build the app; it connects to the bus on start-up and drains on shutdown."""

    @asynccontextmanager
    async def bus_lifespan(app: Litestar) -> AsyncIterator[None]:
        link = await BusLink.connect(settings.nats_url, settings.request_timeout_seconds)
        app.state.bus = link
        try:
            yield
        finally:
            await link.close()

    async def count_response(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            REQUESTS.labels(scope.get("method", "?"), str(message["status"])).inc()

    return Litestar(
        route_handlers=[ObservabilityController, PodTrafficController, HttpTrafficController],
        guards=[require_service_token],
        lifespan=[bus_lifespan],
        state=State({"settings": settings}),
        exception_handlers={HTTPException: http_exception, Exception: internal_error},
        before_send=[count_response],
        openapi_config=OpenAPIConfig(
            title="Kubeward API",
            version="0.1.0",
            path=DOCS_PATH,
            render_plugins=[SwaggerRenderPlugin(path="/"), RedocRenderPlugin(path="/redoc")],
        ),
    )
