"""Gateway test fixtures: gateways on real NATS, MongoDB and Redis, and a logged-in admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest

from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings

TOKEN = "svc-token"
ADMIN = {"username": "root", "password": "correct horse battery"}
SETTINGS_SECRET = "a-settings-secret-for-tests"

Gateway = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]
KubeGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def gateway(nats_url: str, mongo_url: str, mongo_db_name: str, clean_redis_url: str) -> Gateway:
    """Start a gateway process-equivalent (its own app, same NATS/Mongo/Redis) per call."""
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        redis_url=clean_redis_url,
        service_token=TOKEN,
        session_secret="shared-secret",
        settings_secret=SETTINGS_SECRET,
        request_timeout_seconds=1.0,
    )

    @asynccontextmanager
    async def start() -> AsyncIterator[httpx.AsyncClient]:
        async with (
            serve_asgi(create_app(settings)) as url,
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
def kube_gateway(
    nats_url: str,
    mongo_url: str,
    mongo_db_name: str,
    clean_redis_url: str,
    kmock_kubeconfig: str,
) -> KubeGateway:
    """Like ``gateway``, its Kubernetes client on the test's kmock; ``start(**settings)``."""
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        redis_url=clean_redis_url,
        service_token=TOKEN,
        session_secret="shared-secret",
        settings_secret=SETTINGS_SECRET,
        request_timeout_seconds=1.0,
        kubeconfig=kmock_kubeconfig,
        kube_request_timeout_seconds=5.0,
    )

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with (
            serve_asgi(create_app(msgspec.structs.replace(settings, **overrides))) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            yield client

    return start
