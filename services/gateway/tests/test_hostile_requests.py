"""Requests built to break the gateway get a 4xx with a ``detail`` (503 while a dependency
is down), never a 500 (issue 13, item 5)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from kubeward.devstack import infra
from kubeward.devstack.procs import free_port
from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings

TOKEN = "svc-token"  # the gateway fixtures' (conftest.py)
Gateway = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]
DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/admin/llm/config", "/api/security/scan"])
async def test_json_nested_too_deeply_is_400(admin: httpx.AsyncClient, path: str) -> None:
    resp = await admin.post(path, content=DEEP, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert "detail" in resp.json()


async def test_database_down_is_503_not_500(
    nats_url: str, clean_redis_url: str, mongo_db_name: str, tmp_path: Path
) -> None:
    """Login reads the user from MongoDB; with MongoDB gone the caller learns to retry, and
    the gateway says it is degraded (not ready) but alive."""
    port = free_port()
    database = infra.mongo(port, None, tmp_path)
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=f"mongodb://127.0.0.1:{port}/?directConnection=true",
        mongodb_db=mongo_db_name,
        redis_url=clean_redis_url,
        service_token=TOKEN,
        session_secret="s",
        settings_secret="a-settings-secret-for-tests",
    )
    try:
        async with (
            serve_asgi(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as c,
        ):
            database.kill()
            resp = await c.post("/api/auth/login", json={"username": "u", "password": "p" * 9})
            health = await c.get("/health")
            live = await c.get("/live")
    finally:
        database.stop()
    assert resp.status_code == 503
    assert resp.json() == {"detail": "Service temporarily unavailable"}
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"] == {"nats": True, "mongodb": False, "redis": True}
    assert live.status_code == 200


async def test_non_ascii_credentials_are_401(gateway: Gateway) -> None:
    async with gateway() as client:
        token = await client.get("/pod/traffic", headers={"X-Service-Token": b"t\xe9st"})
        cookie = await client.get("/api/auth/me", headers={"Cookie": b"kure_session=\xe9.\xe9"})
    assert token.status_code == 401
    assert cookie.status_code == 401


async def test_a_page_number_beyond_any_listing_is_400(gateway: Gateway) -> None:
    async with gateway() as client:
        resp = await client.get(
            "/http-traffic/some-source",
            params={"page": "99999999999999999999"},
            headers={"X-Service-Token": TOKEN},
        )
    assert resp.status_code == 400
    assert "page" in resp.json()["detail"]


BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_a_pod_name_with_cr_lf_still_gets_a_legal_link_header(
    backed_gateway: BackedGateway,
) -> None:
    """The next-page ``Link`` holds the request path, decoded: a CR LF in a pod name made
    the header illegal and the connection dropped without an answer."""
    name = "evil\r\nX-Injected: 1"
    events = [
        {
            "pod_name": name,
            "pod_namespace": "prod",
            "pod_ip": "10.0.0.1",
            "pod_port": str(port),
            "ip_protocol": "TCP",
            "traffic_type": "INGRESS",
            "traffic_in_out_ip": "10.0.0.2",
            "traffic_in_out_port": "443",
            "decision": "ALLOW",
            "time_stamp": "2026-05-12T10:00:00.000000",
        }
        for port in (80, 81)
    ]
    auth = {"X-Service-Token": TOKEN}
    async with backed_gateway("ingest", "traffic-store") as client:
        stored = await client.post("/pod/traffic/batch", json=events, headers=auth)
        assert stored.status_code == 200 and stored.json() == 2
        page = await client.get(
            "/pod/traffic/evil%0D%0AX-Injected:%201", params={"limit": "1"}, headers=auth
        )
    assert page.status_code == 200
    assert "x-injected" not in page.headers
    assert page.headers["link"].startswith("</pod/traffic/evil%0D%0AX-Injected%3A%201?")
