"""Integration tests: the arkyn endpoints through gateway -> NATS -> ingest -> traffic-store.

Ingest and traffic-store run in-process against the real nats-server and MongoDB wire
server; the gateway is served by uvicorn in the test's own event loop and driven with
httpx (Litestar's ``AsyncTestClient`` runs the app's lifespan, and so its NATS connection,
in a separate portal thread and loop, where the bus replies never reach the handlers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

TOKEN = "arkyn-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def client(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with ingest and traffic-store running behind it."""
    async with backed_gateway("ingest", "traffic-store", service_token=TOKEN) as client:
        yield client


async def post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    """POST expecting 201; the decoded body."""
    resp = await client.post(path, json=body, headers=AUTH)
    assert resp.status_code == 201, resp.text
    return resp.json()


class World:
    """A traffic source with one domain, pathname, request and response, made over HTTP."""

    async def make(self, client: httpx.AsyncClient) -> World:
        """Create the entities through the API."""
        self.source = await post(client, "/traffic-source", {"name": "Payments API"})
        sid = self.source["id"]
        self.domain = await post(
            client, f"/domain/{sid}", {"value": "api.payments.com", "protocol": "HTTPS"}
        )
        self.pathname = await post(
            client, f"/pathname/{sid}/{self.domain['id']}", {"value": "/checkout"}
        )
        self.request = await post(
            client,
            "/request",
            {"headers": {"Content-Type": "application/json"}, "body": {"a": 1}, "queryParams": {}},
        )
        self.response = await post(client, "/response", {"headers": {}, "body": {"ok": True}})
        return self

    def traffic(self, status: int = 200, method: str = "GET", **changes: Any) -> dict[str, Any]:
        """An HttpTraffic body for this world."""
        return {
            "status": status,
            "method": method,
            "elapsedTime": 150,
            "trafficUserId": "user-456",
            "domainId": self.domain["id"],
            "pathnameId": self.pathname["id"],
            "requestId": self.request["id"],
            "responseId": self.response["id"],
        } | changes


async def test_entities_are_created_as_arkyn_returns_them(client: httpx.AsyncClient) -> None:
    w = await World().make(client)
    assert set(w.source) == {"id", "name", "trafficDomain", "createdAt", "updatedAt"}
    assert w.domain["trafficSourceId"] == w.source["id"]
    assert w.domain["protocol"] == "HTTPS"
    assert w.pathname["domainId"] == w.domain["id"]
    assert w.request["body"] == {"a": 1}
    assert w.request["queryParams"] == {}
    assert w.response["body"] == {"ok": True}
    assert all("createdAt" in e for e in (w.domain, w.pathname, w.request, w.response))


async def test_posting_traffic_answers_201_with_the_full_record(
    client: httpx.AsyncClient,
) -> None:
    w = await World().make(client)
    sid = w.source["id"]
    resp = await client.post(f"/http-traffic/{sid}", json=w.traffic(503, "post"), headers=AUTH)
    assert resp.status_code == 201, resp.text
    record = resp.json()
    assert list(record) == [
        "id",
        "status",
        "method",
        "level",
        "elapsedTime",
        "trafficUserId",
        "trafficSourceId",
        "domainId",
        "pathnameId",
        "requestId",
        "responseId",
        "createdAt",
    ]
    assert record["level"] == "FATAL"
    assert record["method"] == "POST"
    assert record["trafficSourceId"] == sid
    assert record["trafficUserId"] == "user-456"
    assert len(record["createdAt"]) == len("06/11/2025 at 15:27:01")
    assert record["createdAt"][10:14] == " at "
    no_user = w.traffic(404)
    del no_user["trafficUserId"]
    second = await client.post(f"/http-traffic/{sid}", json=no_user, headers=AUTH)
    assert second.json()["level"] == "WARNING"
    assert second.json()["trafficUserId"] is None


async def test_unknown_ids_get_404_naming_the_id(client: httpx.AsyncClient) -> None:
    w = await World().make(client)
    sid = w.source["id"]
    unknown_source = await client.post("/http-traffic/ghost", json=w.traffic(), headers=AUTH)
    assert unknown_source.status_code == 404
    assert unknown_source.json() == {"detail": "Traffic source ghost not found"}
    for field, entity in [
        ("domainId", "Domain"),
        ("pathnameId", "Pathname"),
        ("requestId", "Request"),
        ("responseId", "Response"),
    ]:
        resp = await client.post(
            f"/http-traffic/{sid}", json=w.traffic(**{field: "nope"}), headers=AUTH
        )
        assert resp.status_code == 404
        assert resp.json()["detail"].startswith(f"{entity} nope not found")
    bad_token = await client.post("/http-traffic/a.b", json=w.traffic(), headers=AUTH)
    assert bad_token.status_code == 404
    no_parent = await client.post(
        "/domain/ghost", json={"value": "x", "protocol": "HTTP"}, headers=AUTH
    )
    assert no_parent.status_code == 404


async def test_invalid_input_gets_400_naming_the_field(client: httpx.AsyncClient) -> None:
    w = await World().make(client)
    sid = w.source["id"]
    for change, field in [
        ({"status": 700}, "status"),
        ({"method": "BREW"}, "method"),
        ({"elapsedTime": -1}, "elapsedTime"),
    ]:
        resp = await client.post(f"/http-traffic/{sid}", json=w.traffic(**change), headers=AUTH)
        assert resp.status_code == 400
        assert field in resp.json()["detail"]
    missing = w.traffic()
    del missing["requestId"]
    resp = await client.post(f"/http-traffic/{sid}", json=missing, headers=AUTH)
    assert resp.status_code == 400
    assert "requestId" in resp.json()["detail"]
    not_object = await client.post(f"/http-traffic/{sid}", json=[w.traffic()], headers=AUTH)
    assert not_object.status_code == 400
    bad_domain = await client.post(
        f"/domain/{sid}", json={"value": "x.com", "protocol": "gopher"}, headers=AUTH
    )
    assert bad_domain.status_code == 400
    assert "protocol" in bad_domain.json()["detail"]
    bad_request = await client.post("/request", content=b"{oops", headers=AUTH)
    assert bad_request.status_code == 400
    assert "malformed JSON" in bad_request.json()["detail"]


async def test_the_service_token_is_required(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/http-traffic/x"),
        ("GET", "/http-traffic/x"),
        ("POST", "/traffic-source"),
        ("POST", "/domain/x"),
        ("POST", "/pathname/x/y"),
        ("POST", "/request"),
        ("POST", "/response"),
    ]:
        resp = await client.request(method, path, json={})
        assert resp.status_code == 401, path
    ok = await client.post(
        "/traffic-source", json={"name": "n"}, headers={"X-Service-Token": TOKEN}
    )
    assert ok.status_code == 201


async def test_listing_filters_and_pages(client: httpx.AsyncClient) -> None:
    w = await World().make(client)
    sid = w.source["id"]
    statuses = [200, 404, 500, 201, 302, 503, 418]
    for status in statuses:
        resp = await client.post(
            f"/http-traffic/{sid}",
            json=w.traffic(status, "POST" if status >= 400 else "GET"),
            headers=AUTH,
        )
        assert resp.status_code == 201
    listing = await client.get(f"/http-traffic/{sid}", headers=AUTH)
    assert listing.status_code == 200
    body = listing.json()
    assert body["meta"] == {"total": 7, "page": 1, "limit": 10}
    assert [r["status"] for r in body["data"]] == list(reversed(statuses))
    assert "x-next-cursor" not in listing.headers

    async def statuses_for(**params: Any) -> list[int]:
        resp = await client.get(f"/http-traffic/{sid}", params=params, headers=AUTH)
        assert resp.status_code == 200, resp.text
        return [r["status"] for r in resp.json()["data"]]

    assert await statuses_for(level="fatal") == [503, 500]
    assert await statuses_for(level="WARNING") == [418, 404]
    assert await statuses_for(method="GET") == [302, 201, 200]
    assert await statuses_for(status=404) == [404]
    assert await statuses_for(domainId=w.domain["id"], pathnameId=w.pathname["id"]) == list(
        reversed(statuses)
    )
    assert await statuses_for(pathnameId="other") == []
    assert await statuses_for(
        startDate="2000-01-01T00:00:00Z", endDate="2100-01-01T00:00:00Z"
    ) == list(reversed(statuses))
    assert await statuses_for(until="2000-01-01T00:00:00Z") == []
    assert await statuses_for(limit=3, page=3) == [200]

    first = await client.get(f"/http-traffic/{sid}", params={"limit": 3}, headers=AUTH)
    cursor = first.headers["x-next-cursor"]
    assert f"cursor={cursor}" in first.headers["link"]
    assert 'rel="next"' in first.headers["link"]
    seen = [r["status"] for r in first.json()["data"]]
    while cursor:
        page = await client.get(
            f"/http-traffic/{sid}", params={"limit": 3, "cursor": cursor}, headers=AUTH
        )
        seen += [r["status"] for r in page.json()["data"]]
        cursor = page.headers.get("x-next-cursor", "")
    assert seen == list(reversed(statuses))


async def test_listing_errors(client: httpx.AsyncClient) -> None:
    w = await World().make(client)
    sid = w.source["id"]
    unknown = await client.get("/http-traffic/ghost", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Traffic source ghost not found"}
    for params in [{"level": "DEBUG"}, {"method": "BREW"}, {"status": "42"}, {"startDate": "x"}]:
        resp = await client.get(f"/http-traffic/{sid}", params=params, headers=AUTH)
        assert resp.status_code == 400, params
