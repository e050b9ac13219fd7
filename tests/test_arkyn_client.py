"""The REAL ``@arkyn/server`` collector (npm 3.0.1-beta.139, pinned in
``tests/clients/arkyn/package-lock.json``) against gateway + ingest + traffic-store.

Pins ``dist/services/logService.js``, ``dist/http/api/_logRequest.js``,
``dist/http/api/_makeRequest.js`` and ``dist/services/apiService.js`` of that version: an
app's ``ApiService`` call makes the library post its own log to
``{logBaseApiUrl}/ingest-log`` with ``Authorization: Bearer <userToken>``. Node and the
harness come from ``scripts/install.sh``; a missing node fails this test, it never skips.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeward.core.service import serving
from kubeward.devstack.testing import eventually, serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings as GatewaySettings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings as StoreSettings

HARNESS = Path(__file__).parent / "clients" / "arkyn"
TOKEN = "kubeward-service-token"
APP_TOKEN = "eyJhbGciOiJIUzI1NiJ9.an-arkyn-user-token"
"""The userToken an existing app is configured with; accepted via ARKYN_LOG_TOKENS."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def gateway_url(nats_url: str, mongo_url: str, mongo_db_name: str) -> AsyncIterator[str]:
    """The gateway with ingest and traffic-store behind it, in this event loop."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            serving("ingest", IngestSettings(nats_url=nats_url), ingest)
        )
        store = StoreSettings(nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name)
        await stack.enter_async_context(serving("traffic-store", store, traffic_store))
        settings = GatewaySettings(
            nats_url=nats_url, service_token=TOKEN, arkyn_log_tokens=f"other,{APP_TOKEN}"
        )
        yield await stack.enter_async_context(serve_asgi(create_app(settings)))


async def drive(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the harness with ``plan``; what the library's ApiService returned per call."""
    node = shutil.which("node")
    assert node is not None, "node is missing: run scripts/install.sh"
    assert (HARNESS / "node_modules" / "@arkyn" / "server").is_dir(), (
        "the arkyn harness is not installed: run scripts/install.sh"
    )
    proc = await asyncio.create_subprocess_exec(
        node,
        "drive.mjs",
        json.dumps(plan),
        cwd=HARNESS,
        env={"PATH": "/usr/bin:/bin", "NODE_ENV": "production"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"LogError" not in out + err, (out + err).decode()
    results: list[dict[str, Any]] = json.loads(out.splitlines()[-1])
    return results


async def test_the_real_library_logs_every_call_and_reads_back(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as api:
        created = await api.post(
            "/traffic-sources", json={"name": "shop", "trafficDomain": "shop.example"}, headers=AUTH
        )
        assert created.status_code == 200, created.text
        sid = created.json()["id"]
        results = await drive(
            {
                "baseUrl": gateway_url,
                "token": TOKEN,
                "logToken": APP_TOKEN,
                "trafficSourceId": sid,
                "calls": [
                    {"method": "get", "endpoint": "/traffic-sources/:id", "urlParams": {"id": sid}},
                    {
                        "method": "post",
                        "endpoint": "/requests",
                        "body": {"headers": '{"a":"1"}', "body": "null", "queryParams": "{}"},
                    },
                    {"method": "get", "endpoint": "/traffic-sources/nope"},
                ],
            }
        )
        # What the app reads back through the library (its ApiResponseDTO).
        assert [r["status"] for r in results] == [200, 200, 404]
        assert results[0]["success"] is True
        assert results[0]["response"]["name"] == "shop"
        assert results[1]["response"]["headers"] == '{"a":"1"}'
        assert results[2]["success"] is False
        assert results[2]["message"] == "Traffic source not found"

        async def records() -> dict[str, Any]:
            resp = await api.get(f"/http-traffic-records/{sid}", headers=AUTH)
            assert resp.status_code == 200, resp.text
            body: dict[str, Any] = resp.json()
            return body

        page = await eventually(
            records, lambda b: b["meta"]["totalItems"] == 3, what="three logged calls"
        )
    rows = sorted(page["data"], key=lambda r: (r["method"], r["status"]))
    assert [(r["method"], r["status"], r["level"]) for r in rows] == [
        ("get", 200, "info"),
        ("get", 404, "warning"),
        ("post", 200, "info"),
    ]
    first = rows[0]
    assert first["domain"] == gateway_url
    assert first["protocol"] == "http"
    # The library logs the raw endpoint (":id" unreplaced) and the urlParams as query.
    assert first["pathname"] == "/traffic-sources/:id"
    assert json.loads(first["request"]["queryParams"]) == {"id": sid}
    assert json.loads(first["request"]["headers"])["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(first["response"]["bodyPreview"])["id"] == sid
    assert isinstance(first["elapsedTime"], float | int)
    assert page["meta"] == {"page": 1, "pageLimit": 20, "totalItems": 3}
