"""Integration tests: the kguardian endpoints through gateway -> NATS -> ingest -> traffic-store.

Ingest and traffic-store run in-process against the real nats-server and MongoDB wire server;
the gateway is driven through Litestar's ASGI test client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import msgspec
import pytest

from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings as GatewaySettings

TOKEN = "s3cret-token"
AUTH = {"X-Service-Token": TOKEN}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def event(n: int, **changes: str) -> dict[str, str]:
    """kguardian event ``n`` (a distinct flow per ``n``)."""
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "pod_name": "my-app-7d9f6b8c4-x5z2w",
        "pod_namespace": "production",
        "pod_ip": "10.244.1.5",
        "pod_port": str(8000 + n),
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": "10.244.2.10",
        "traffic_in_out_port": "443",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:32:{n:02d}.123456",
    } | changes


@pytest.fixture
async def client(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with ingest and traffic-store running behind it."""
    settings = {"traffic-store": {"max_page": 50}}
    gateway = {"service_token": TOKEN, "default_page": 50}
    async with backed_gateway("ingest", "traffic-store", settings=settings, **gateway) as client:
        yield client


async def test_requests_without_the_service_token_get_401(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/pod/traffic"),
        ("POST", "/pod/traffic"),
        ("POST", "/pod/traffic/batch"),
        ("GET", "/pod/traffic/x"),
    ]:
        resp = await client.request(method, path)
        assert resp.status_code == 401, path
        assert resp.json() == {"detail": "Not authenticated"}
    wrong = await client.get("/pod/traffic", headers={"X-Service-Token": "nope"})
    assert wrong.status_code == 401


async def test_bearer_token_is_accepted(client: httpx.AsyncClient) -> None:
    resp = await client.get("/pod/traffic", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.json() == []


async def test_health_and_metrics_are_public(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    await client.post("/pod/traffic/batch", json=[event(1)], headers=AUTH)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "kubeward_gateway_requests_total" in metrics.text
    assert 'kubeward_ingest_records_total{kind="pod-traffic",outcome="accepted"}' in metrics.text


async def test_single_insert_returns_the_row_then_null(client: httpx.AsyncClient) -> None:
    first = await client.post("/pod/traffic", json=event(1, ip_protocol="tcp"), headers=AUTH)
    assert first.status_code == 200
    assert first.json() == event(1)  # normalised (protocol upper-cased) and otherwise as sent
    dup = await client.post(
        "/pod/traffic", json=event(1, uuid="00000000-0000-4000-8000-0000000000aa"), headers=AUTH
    )
    assert dup.status_code == 200 and dup.json() is None


async def test_batch_counts_only_new_rows_and_reads_its_writes(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.post(
        "/pod/traffic/batch", json=[event(1), event(2), event(1)], headers=AUTH
    )
    assert resp.status_code == 200 and resp.json() == 2
    resp = await client.post("/pod/traffic/batch", json=[event(2), event(3)], headers=AUTH)
    assert resp.json() == 1
    listed = await client.get("/pod/traffic", headers=AUTH)
    assert [r["uuid"] for r in listed.json()] == [event(n)["uuid"] for n in (3, 2, 1)]


async def test_invalid_record_rejects_the_whole_http_batch(client: httpx.AsyncClient) -> None:
    # A time that is not a time: kguardian's broker refuses it too (a port "http" it stores,
    # and so does kubeward: test_kguardian_as_given.py).
    resp = await client.post(
        "/pod/traffic/batch", json=[event(1), event(2, time_stamp="yesterday")], headers=AUTH
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "detail": "Invalid pod traffic: [1] time_stamp: 'yesterday' is not an ISO 8601 time"
    }
    assert (await client.get("/pod/traffic", headers=AUTH)).json() == []
    single = await client.post("/pod/traffic", json={"pod_name": "x"}, headers=AUTH)
    assert single.status_code == 400 and "missing required field" in single.json()["detail"]
    wrong_shape = await client.post("/pod/traffic", json=[event(1)], headers=AUTH)
    assert wrong_shape.status_code == 400
    not_json = await client.post("/pod/traffic/batch", content=b"[{", headers=AUTH)
    assert not_json.status_code == 400 and "malformed JSON" in not_json.json()["detail"]


async def test_per_pod_listing_and_its_404_body(client: httpx.AsyncClient) -> None:
    await client.post(
        "/pod/traffic/batch", json=[event(1), event(2, pod_name="other")], headers=AUTH
    )
    mine = await client.get("/pod/traffic/my-app-7d9f6b8c4-x5z2w", headers=AUTH)
    assert [r["pod_port"] for r in mine.json()] == ["8001"]
    missing = await client.get("/pod/traffic/nobody", headers=AUTH)
    assert missing.status_code == 404
    assert missing.content == b"No data found"  # kguardian's broker: plain text


async def test_paging_headers_and_filters(client: httpx.AsyncClient) -> None:
    events = [event(n, decision="DROP" if n % 2 else "ALLOW") for n in range(60)]
    assert (await client.post("/pod/traffic/batch", json=events, headers=AUTH)).json() == 60
    page1 = await client.get("/pod/traffic", headers=AUTH)
    assert len(page1.json()) == 50  # the configured default page
    cursor = page1.headers["x-next-cursor"]
    assert f"cursor={cursor}" in page1.headers["link"]
    page2 = await client.get("/pod/traffic", params={"cursor": cursor}, headers=AUTH)
    assert len(page2.json()) == 10 and "x-next-cursor" not in page2.headers
    uuids = [r["uuid"] for r in page1.json() + page2.json()]
    assert uuids == [event(n)["uuid"] for n in reversed(range(60))]
    drops = await client.get(
        "/pod/traffic", params={"decision": "drop", "limit": "100"}, headers=AUTH
    )
    assert len(drops.json()) == 30 and {r["decision"] for r in drops.json()} == {"DROP"}
    window = await client.get(
        "/pod/traffic",
        params={"since": "2026-05-12T10:32:10Z", "until": "2026-05-12T10:32:12.123456"},
        headers=AUTH,
    )
    assert [r["pod_port"] for r in window.json()] == ["8011", "8010"]
    stats = await client.get(
        "/pod/traffic", params={"with_stats": "true", "limit": "1"}, headers=AUTH
    )
    assert stats.json()[0]["hits"] == 1


async def test_bad_query_parameters_are_400s(client: httpx.AsyncClient) -> None:
    # ``limit`` is clamped as kguardian's broker does (test_kguardian_api.py), not refused.
    for params in ({"since": "soon"}, {"cursor": "zzz"}, {"limit": "x"}):
        resp = await client.get("/pod/traffic", params=params, headers=AUTH)
        assert resp.status_code == 400, params
        assert resp.json()["detail"], params
    # A decision kubeward does not know may be stored as given, so it is a filter like any.
    other = await client.get("/pod/traffic", params={"decision": "maybe"}, headers=AUTH)
    assert other.status_code == 200 and other.json() == []


async def test_write_timeout_is_a_504_when_the_store_is_down(
    nats_url: str, mongo_url: str, mongo_db_name: str
) -> None:
    app = create_app(
        GatewaySettings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            service_token=TOKEN,
            request_timeout_seconds=0.5,
        )
    )
    async with serve_asgi(app) as base_url, httpx.AsyncClient(base_url=base_url) as lonely:
        resp = await lonely.post("/pod/traffic", json=event(1), headers=AUTH)
        assert resp.status_code == 504
        assert "will still be stored" in resp.json()["detail"]
        listed = await lonely.get("/pod/traffic", headers=AUTH)
        assert listed.status_code == 503
        assert listed.json() == {"detail": "Traffic store is not available"}
    assert msgspec.json.decode(msgspec.json.encode(event(1)))["pod_port"] == "8001"


async def test_openapi_docs_are_public_and_list_the_endpoints(
    client: httpx.AsyncClient,
) -> None:
    doc = await client.get("/docs/openapi.json")
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    for path in ("/pod/traffic", "/pod/traffic/batch", "/pod/traffic/{name}", "/health"):
        assert path in paths, path
    assert (await client.get("/docs")).status_code == 200
    redoc = await client.get("/redoc", follow_redirects=True)
    assert redoc.status_code == 200 and "redoc" in redoc.text.lower()
