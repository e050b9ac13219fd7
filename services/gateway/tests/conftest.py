"""Gateway test fixtures: gateways on real NATS, MongoDB and Redis, and a logged-in admin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import kmock
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
def kmock_kubeconfig(kmock: kmock.KubernetesEmulator, tmp_path: Path) -> str:
    """A kubeconfig file pointing the official client at this test's kmock emulator.

    ``kmock`` (its pytest plugin's fixture) is an in-memory Kubernetes API emulator on a
    free loopback port; it records every request it gets.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url)}}],
        "users": [{"name": "kmock", "user": {"token": "kmock-token"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        "current-context": "kmock",
    }
    path = tmp_path / "kubeconfig.json"  # JSON is YAML: the client reads either
    path.write_text(json.dumps(config))
    return str(path)


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


@pytest.fixture(autouse=True)
def kmock_parses_namespace_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let kmock's emulator parse ``GET /api/v1/namespaces`` (the Namespace list).

    kmock's path parser reads ``namespaces`` as the start of ``namespaces/{ns}/...`` and
    raises on the bare list path, before any reaction or stored object is consulted: every
    such request was a 500. This fixes that one case in kmock's parser (the cluster-scoped
    ``namespaces`` resource); the emulator then serves the Namespace objects a test stores,
    or its usual 404 for a resource it holds none of. The client is not touched.
    """
    from kmock._internal import parsing  # private: no public hook for the parser

    original = parsing.parse_path

    def parse_path(path: str) -> parsing.ParsedPath:
        if path.strip("/") == "api/v1/namespaces":
            return parsing.ParsedPath(group="", version="v1", plural="namespaces")
        return original(path)

    monkeypatch.setattr(parsing, "parse_path", parse_path)
