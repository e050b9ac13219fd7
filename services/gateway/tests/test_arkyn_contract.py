"""Contract tests: arkyn's real clients, byte for byte, through gateway -> ingest -> traffic-store.

Pinned upstream files:
- npm ``@arkyn/server`` 3.0.1-beta.139, ``dist/http/api/_logRequest.js`` (the body and headers
  of ``POST {logBaseApiUrl}/ingest-log``) and ``dist/utilities/schemaValidator.js`` /
  ``dist/http/badResponses/*.js`` (error bodies);
- ``Lucas-Eduardo-Goncalves/arkyn-ingest`` ``src/infra/schemas/internal/ingestLog.ts`` @
  33d5d63f7a6d7ed4a8c72871a5027d51b928bb69 and ``src/infra/controllers/
  enqueueLogDataController.ts`` @ 198dffe3d7ce224711d373e6b411c9834841bb2b (200 ``null``);
- ``Lucas-Eduardo-Goncalves/arkyn-logs`` ``src/infra/schemas/internal/httpTrafficRecord.ts``
  (version with ``z.uuidv7``, file id 57908885933), ``src/app/shared/searchResult.ts`` @
  1968642f18bafbea041d4245b450184ab0b6ed89, ``src/infra/adapters/formatDateAdapter.ts`` @
  d2c9e1826c9a6988a47bcb38c48d8f0b2255f123, ``src/infra/adapters/routeAdapter.ts`` @
  53ffc04abc89985b291f22f66fec7a666531f1a7 (successes answer 200);
- ``Lucas-Eduardo-Goncalves/arkyn-panel`` ``src/infra/schemas/external/*.ts`` (strict shapes
  it validates) @ afae7ef4b9b4c79dbcda5deb29976844ba072f0d,
  b24579098ebc637d088e87194a68a7845d85fc04 and 28a372ed6d77156f8c42ecaf28c01f3c192e9818,
  and ``src/app/shared/searchParams.ts`` (the query it sends: ``page``, ``pageLimit``,
  ``sort``, ``sortDirection``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import nats
import pytest

from kubeward.devstack.testing import eventually
from kubeward.schemas import bus

TOKEN = "arkyn-contract-token"
USER_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.user"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
ARKYN_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} at \d{2}:\d{2}:\d{2}$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# arkyn-panel's strict shapes (z.strictObject): exactly these keys.
PANEL_TRAFFIC = {
    "id", "status", "method", "level", "elapsedTime", "trafficUserId", "trafficSourceId",
    "domainId", "pathnameId", "requestId", "responseId", "createdAt",
}  # fmt: skip
PANEL_RECORD = {
    "id", "status", "method", "level", "protocol", "elapsedTime", "trafficUserId",
    "trafficSourceId", "domain", "pathname", "request", "response", "createdAt",
}  # fmt: skip
PANEL_SOURCE = {"id", "name", "trafficDomain", "userId", "createdAt", "updatedAt"}
PANEL_DOMAIN = {"id", "value", "protocol", "trafficSourceId", "createdAt"}
PANEL_PATHNAME = {"id", "value", "domainId", "trafficSourceId", "createdAt"}


@pytest.fixture
async def client(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with ingest and traffic-store running behind it."""
    gateway = {"service_token": TOKEN, "arkyn_log_tokens": USER_TOKEN}
    async with backed_gateway("ingest", "traffic-store", **gateway) as client:
        yield client


def js_stringify(value: Any) -> str:
    """``JSON.stringify`` of plain data: compact, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def log_body(source_id: str, **changes: Any) -> bytes:
    """Exactly what ``logRequest`` posts for a GET the app made through ``ApiService``."""
    fields: dict[str, Any] = {
        "domainUrl": "https://api.shop.example",
        "pathnameUrl": "/orders/:orderId",
        "trafficSourceId": source_id,
        "status": 200,
        "protocol": "https",
        "method": "get",
        "trafficUserId": None,
        "elapsedTime": 12.840291999999977,
        "requestHeaders": js_stringify(
            {"Authorization": "Bearer app-token", "Content-Type": "application/json"}
        ),
        "requestBody": js_stringify(None),
        "queryParams": js_stringify({"expand": "items", "orderId": "42"}),
        "responseHeaders": js_stringify({"content-type": "application/json"}),
        "responseBody": js_stringify({"id": 42, "items": [{"sku": "A-1"}]}),
    } | changes
    return js_stringify(fields).encode()


def log_headers(token: str = USER_TOKEN) -> dict[str, str]:
    """The two headers ``logRequest`` sends."""
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


async def new_source(client: httpx.AsyncClient, name: str = "shop") -> str:
    resp = await client.post("/traffic-sources", json={"name": name}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    source_id: str = resp.json()["id"]
    return source_id


async def listing(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    resp = await client.get(path, params=params, headers=AUTH)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_ingest_log_composes_the_record_the_panel_reads(client: httpx.AsyncClient) -> None:
    sid = await new_source(client)
    resp = await client.post("/ingest-log", content=log_body(sid), headers=log_headers())
    assert resp.status_code == 200, resp.text
    assert resp.content == b"null"

    records = await listing(client, f"/http-traffic-records/{sid}")
    assert records["meta"] == {"page": 1, "pageLimit": 20, "totalItems": 1}
    record = records["data"][0]
    assert set(record) == PANEL_RECORD
    assert UUID7.match(record["id"])
    assert record["method"] == "get"
    assert record["level"] == "info"
    assert record["protocol"] == "https"
    assert record["domain"] == "https://api.shop.example"
    assert record["pathname"] == "/orders/:orderId"
    assert record["elapsedTime"] == 12.840291999999977
    assert record["trafficUserId"] is None
    assert ARKYN_TIME.match(record["createdAt"])
    assert set(record["request"]) == {
        "headers",
        "bodyPreview",
        "bodyUrl",
        "queryParams",
        "createdAt",
    }
    assert set(record["response"]) == {"headers", "bodyPreview", "bodyUrl", "createdAt"}
    assert record["request"]["queryParams"] == '{"expand":"items","orderId":"42"}'
    assert record["request"]["bodyPreview"] == "null"
    assert record["response"]["bodyPreview"] == '{"id":42,"items":[{"sku":"A-1"}]}'

    detail = await client.get(f"/http-traffic-records/record/{record['id']}", headers=AUTH)
    assert detail.status_code == 200
    assert detail.json() == record
    body_url = await client.get(record["response"]["bodyUrl"], headers=AUTH)
    assert body_url.json()["body"] == '{"id":42,"items":[{"sku":"A-1"}]}'

    traffics = await listing(client, f"/http-traffics/{sid}")
    assert set(traffics["data"][0]) == PANEL_TRAFFIC
    domains = await listing(client, f"/domains/{sid}")
    assert [set(d) for d in domains["data"]] == [PANEL_DOMAIN]
    assert domains["data"][0]["protocol"] == "https"
    did = domains["data"][0]["id"]
    pathnames = await listing(client, f"/pathnames/{sid}/{did}")
    assert [(set(p), p["value"]) for p in pathnames["data"]] == [
        (PANEL_PATHNAME, "/orders/:orderId")
    ]

    # A retried identical post (same bytes) stores nothing more; a different one does.
    body = log_body(sid)
    for _ in range(2):
        resp = await client.post("/ingest-log", content=body, headers=log_headers())
        assert resp.status_code == 200
    other = log_body(sid, elapsedTime=3.5, status=503, method="post")
    assert (await client.post("/ingest-log", content=other, headers=log_headers())).is_success
    records = await listing(client, f"/http-traffic-records/{sid}")
    assert records["meta"]["totalItems"] == 2
    assert sorted((r["method"], r["level"]) for r in records["data"]) == [
        ("get", "info"),
        ("post", "fatal"),
    ]
    domains = await listing(client, f"/domains/{sid}")
    assert domains["meta"]["totalItems"] == 1  # the domain is found, not duplicated


async def test_invalid_logs_answer_arkyn_validation_errors(client: httpx.AsyncClient) -> None:
    sid = await new_source(client)
    bad = log_body(sid, protocol="ftp")
    resp = await client.post("/ingest-log", content=bad, headers=log_headers())
    assert resp.status_code == 422
    body = resp.json()
    assert body["name"] == "UnprocessableEntity"
    assert body["message"] == "Unprocessable entity"
    assert set(body["cause"]["fieldErrors"]) == {"protocol"}
    assert body["cause"]["data"] == {"scrollTo": "protocol"}
    assert body["cause"]["fields"]["protocol"] == "ftp"
    assert "detail" in body
    wrong_type = await client.post(
        "/ingest-log", content=log_body(sid, status="200"), headers=log_headers()
    )
    assert wrong_type.status_code == 422
    assert set(wrong_type.json()["cause"]["fieldErrors"]) == {"status"}
    unknown = await client.post(
        "/ingest-log",
        content=log_body("0197548f-0e8e-7550-b283-f26fd98a9423"),
        headers=log_headers(),
    )
    assert unknown.status_code == 404
    assert unknown.json()["name"] == "NotFound"

    # The library's token: the service token, or one of ARKYN_LOG_TOKENS here only.
    body = log_body(sid)
    assert (await client.post("/ingest-log", content=body, headers=log_headers(TOKEN))).is_success
    assert (await client.post("/ingest-log", content=body, headers=log_headers())).is_success
    wrong = await client.post("/ingest-log", content=body, headers=log_headers("nope"))
    assert wrong.status_code == 401
    missing = await client.post("/ingest-log", content=body)
    assert missing.status_code == 401
    elsewhere = await client.get("/traffic-sources", headers=log_headers())
    assert elsewhere.status_code == 401


async def test_compose_route_and_bus_input(client: httpx.AsyncClient, nats_url: str) -> None:
    sid = await new_source(client)
    body = log_body("ignored-the-path-wins")
    resp = await client.post(f"/http-traffic-records/{sid}", content=body, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert (await listing(client, f"/http-traffics/{sid}"))["meta"]["totalItems"] == 1

    # A collector may publish the same body on the bus itself.
    conn = await nats.connect(nats_url)
    try:
        # (the composed body above re-encodes to these very bytes: a distinct log, please)
        await conn.jetstream().publish(bus.COLLECT_HTTP_LOG, log_body(sid, elapsedTime=1.25))
    finally:
        await conn.close()

    async def total() -> int:
        return int((await listing(client, f"/http-traffics/{sid}"))["meta"]["totalItems"])

    await eventually(total, lambda n: n == 2, what="the bus log stored")


async def test_plural_lists_page_sort_and_count(client: httpx.AsyncClient) -> None:
    names = [f"source-{i}" for i in range(5)]
    ids = [await new_source(client, name) for name in names]
    # The panel's query (SearchParams.toExternal): page, pageLimit, sort, sortDirection.
    first = await listing(
        client, "/traffic-sources", page=1, pageLimit=2, sort="createdAt", sortDirection="desc"
    )
    assert first["meta"] == {"page": 1, "pageLimit": 2, "totalItems": 5}
    assert [s["name"] for s in first["data"]] == ["source-4", "source-3"]
    assert all(set(s) == PANEL_SOURCE and ARKYN_TIME.match(s["createdAt"]) for s in first["data"])
    third = await listing(client, "/traffic-sources", page=3, pageLimit=2, sortDirection="asc")
    assert [s["name"] for s in third["data"]] == ["source-4"]

    unsorted = await client.get("/traffic-sources", params={"sort": "name"}, headers=AUTH)
    assert unsorted.status_code == 400
    assert "createdAt" in unsorted.json()["detail"]
    bad_page = await client.get("/traffic-sources", params={"page": "0"}, headers=AUTH)
    assert bad_page.status_code == 422
    assert set(bad_page.json()["cause"]["fieldErrors"]) == {"page"}

    deleted = await client.delete(f"/traffic-sources/{ids[0]}", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.content == b"null"
    gone = await client.delete(f"/traffic-sources/{ids[0]}", headers=AUTH)
    assert gone.status_code == 404
    assert gone.json()["name"] == "NotFound"
    after = await listing(client, "/traffic-sources")
    assert after["meta"]["totalItems"] == 4


async def test_plural_entities_and_the_singular_routes_share_one_store(
    client: httpx.AsyncClient,
) -> None:
    sid = await new_source(client)
    updated = await client.put(
        f"/traffic-sources/{sid}", json={"name": "renamed", "trafficDomain": "x.io"}, headers=AUTH
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["trafficDomain"]) == ("renamed", "x.io")

    domain = await client.post(
        f"/domains/{sid}", json={"value": "api.x.io", "protocol": "http"}, headers=AUTH
    )
    assert domain.status_code == 200, domain.text
    assert set(domain.json()) == PANEL_DOMAIN
    assert domain.json()["protocol"] == "http"
    did = domain.json()["id"]
    bad_domain = await client.post(
        f"/domains/{sid}", json={"value": "api.x.io", "protocol": "ftp"}, headers=AUTH
    )
    assert bad_domain.status_code == 422
    assert set(bad_domain.json()["cause"]["fieldErrors"]) == {"protocol"}

    pathname = await client.post(f"/pathnames/{sid}/{did}", json={"value": "/pay"}, headers=AUTH)
    assert set(pathname.json()) == PANEL_PATHNAME
    request = await client.post(
        "/requests",
        json={"headers": '{"a":"b"}', "body": '{"n":1}', "queryParams": "{}"},
        headers=AUTH,
    )
    assert request.json()["headers"] == '{"a":"b"}'
    response = await client.post("/responses", json={"headers": "{}", "body": None}, headers=AUTH)
    assert response.status_code == 200

    traffic = {
        "status": 404,
        "method": "PATCH",
        "elapsedTime": 7,
        "domainId": did,
        "pathnameId": pathname.json()["id"],
        "requestId": request.json()["id"],
        "responseId": response.json()["id"],
    }
    plural = await client.post(f"/http-traffics/{sid}", json=traffic, headers=AUTH)
    assert plural.status_code == 200, plural.text
    assert set(plural.json()) == PANEL_TRAFFIC
    assert (plural.json()["method"], plural.json()["level"]) == ("patch", "warning")
    assert ARKYN_TIME.match(plural.json()["createdAt"])
    singular = await client.post(f"/http-traffic/{sid}", json=traffic, headers=AUTH)
    assert singular.status_code == 201
    assert (singular.json()["method"], singular.json()["level"]) == ("PATCH", "WARNING")

    listed = await listing(client, f"/http-traffics/{sid}", method="patch", level="warning")
    assert listed["meta"]["totalItems"] == 2
    assert {r["id"] for r in listed["data"]} == {plural.json()["id"], singular.json()["id"]}
    none = await listing(client, f"/http-traffics/{sid}", protocol="https")
    assert none["meta"]["totalItems"] == 0
    record = await client.get(f"/http-traffic-records/record/{plural.json()['id']}", headers=AUTH)
    assert record.json()["domain"] == "http://api.x.io"
    assert record.json()["request"]["bodyPreview"] == '{"n":1}'

    removed = await client.delete(f"/http-traffics/{plural.json()['id']}", headers=AUTH)
    assert removed.status_code == 200
    assert (await listing(client, f"/http-traffics/{sid}"))["meta"]["totalItems"] == 1
    unknown = await client.get("/domains/not-a-source", headers=AUTH)
    assert unknown.status_code == 404
