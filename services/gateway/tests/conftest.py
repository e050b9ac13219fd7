"""Gateway test fixtures: gateways on real NATS, MongoDB and Redis, a logged-in admin, and
gateways with services running in-process behind them.

The fixtures' gateways check every 2xx JSON answer they send against the response schema
its route declares in the OpenAPI document (:mod:`kubeward.devstack.openapi_responses`),
whichever client asked: a body the document misdescribes fails the test at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from kubeward.core.service import serving
from kubeward.devstack.openapi_responses import ResponseSchemas
from kubeward.devstack.testing import serve_asgi
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.settings import Settings as AnalyzerSettings
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.mirror.app import mirror
from kubeward.mirror.settings import Settings as MirrorSettings
from kubeward.security.app import security
from kubeward.security.settings import Settings as SecuritySettings
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings as StoreSettings

TOKEN = "svc-token"
ADMIN = {"username": "root", "password": "correct horse battery"}
SETTINGS_SECRET = "a-settings-secret-for-tests"

Gateway = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]
KubeGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
Backing = Callable[..., AbstractAsyncContextManager[None]]
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def serve_checked(app: Litestar) -> AsyncIterator[str]:
    """Serve ``app`` (yield its URL), checking each 2xx JSON answer against its route's
    declared schema; fail at the end if any broke it."""
    schemas = ResponseSchemas.of_litestar(app)
    async with serve_asgi(schemas.asgi(app)) as url:
        yield url
    schemas.assert_clean()


@pytest.fixture
def gateway_settings(
    nats_url: str, mongo_url: str, mongo_db_name: str, clean_redis_url: str
) -> Settings:
    """A gateway's settings on the test's NATS, MongoDB and Redis, with the tests' token and
    secrets (the request timeout the default)."""
    return Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        redis_url=clean_redis_url,
        service_token=TOKEN,
        session_secret="shared-secret",
        settings_secret=SETTINGS_SECRET,
    )


@pytest.fixture
def gateway(gateway_settings: Settings) -> Gateway:
    """Start a gateway process-equivalent (its own app, same NATS/Mongo/Redis) per call."""
    settings = msgspec.structs.replace(gateway_settings, request_timeout_seconds=1.0)

    @asynccontextmanager
    async def start() -> AsyncIterator[httpx.AsyncClient]:
        async with (
            serve_checked(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            yield client

    return start


@pytest.fixture
async def admin(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the initial admin."""
    async with gateway() as client:
        resp = await client.post("/api/auth/signup", json=ADMIN)
        assert resp.status_code == 201
        yield client


@pytest.fixture
def kube_gateway(gateway_settings: Settings, kmock_kubeconfig: str) -> KubeGateway:
    """Like ``gateway``, its Kubernetes client on the test's kmock; ``start(**settings)``."""
    settings = msgspec.structs.replace(
        gateway_settings,
        request_timeout_seconds=1.0,
        kubeconfig=kmock_kubeconfig,
        kube_request_timeout_seconds=5.0,
    )

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(msgspec.structs.replace(settings, **overrides))
        async with serve_checked(app) as url, httpx.AsyncClient(base_url=url) as client:
            yield client

    return start


@pytest.fixture
def backing(nats_url: str, mongo_url: str, mongo_db_name: str) -> Backing:
    """Services run in-process on the test's NATS and MongoDB, for a gateway of the test's own.

    ``start("ingest", "traffic-store", ..., settings={"traffic-store": {"max_page": 50}})``
    runs the named services (``ingest``, ``traffic-store``, ``failure-analyzer``,
    ``security``, ``mirror``) for the block; ``settings`` overrides a service's settings.
    The services holding secrets share the gateway's ``SETTINGS_SECRET``.
    """
    common: dict[str, Any] = {
        "nats_url": nats_url,
        "mongodb_url": mongo_url,
        "mongodb_db": mongo_db_name,
    }
    secret = common | {"settings_secret": SETTINGS_SECRET}
    made: dict[str, Callable[..., tuple[Any, Any]]] = {
        "ingest": lambda **o: (IngestSettings(nats_url=nats_url, **o), ingest),
        "traffic-store": lambda **o: (StoreSettings(**common | o), traffic_store),
        "failure-analyzer": lambda **o: (AnalyzerSettings(**secret | o), failure_analyzer),
        "security": lambda **o: (SecuritySettings(**secret | o), security),
        "mirror": lambda **o: (MirrorSettings(**secret | o), mirror),
    }

    @asynccontextmanager
    async def start(
        *services: str, settings: Mapping[str, Mapping[str, Any]] | None = None
    ) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for name in services:
                service_settings, body = made[name](**(settings or {}).get(name, {}))
                await stack.enter_async_context(serving(name, service_settings, body))
            yield

    return start


@pytest.fixture
def backed_gateway(backing: Backing, gateway_settings: Settings) -> BackedGateway:
    """A gateway with services behind it; ``start(*services, settings=..., **gateway)``.

    The services and ``settings`` are ``backing``'s; ``gateway`` overrides the gateway's
    settings (by default ``gateway_settings``). Yields a client of the gateway (not logged in).
    """

    @asynccontextmanager
    async def start(
        *services: str, settings: Mapping[str, Mapping[str, Any]] | None = None, **gateway: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(msgspec.structs.replace(gateway_settings, **gateway))
        async with (
            backing(*services, settings=settings),
            serve_checked(app) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            yield client

    return start
