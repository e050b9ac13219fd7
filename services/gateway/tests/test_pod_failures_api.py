"""Kure's pod-monitoring endpoints through the gateway, with ingest and failure-analyzer
running in-process against real NATS, MongoDB and Redis."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.devstack.testing import eventually, stored_messages
from kubeward.schemas import bus

TOKEN = "svc-token"
AGENT = {"X-Service-Token": TOKEN}
ADMIN = {"username": "root", "password": "correct horse battery"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

REPORT: dict[str, Any] = {
    "pod_name": "web-5f7c9d8b6-zt4qp",
    "namespace": "default",
    "node_name": "worker-1",
    "phase": "Pending",
    "creation_timestamp": "2026-11-22T09:00:00+00:00",
    "failure_reason": "ImagePullBackOff",
    "failure_message": 'Back-off pulling image "nginx:1.99-doesnotexist"',
    "container_statuses": [
        {
            "name": "web",
            "ready": False,
            "restart_count": 0,
            "image": "nginx:1.99-doesnotexist",
            "state": "waiting",
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "nginx:1.99-doesnotexist"',
        }
    ],
    "events": [
        {
            "type": "Warning",
            "reason": "Failed",
            "message": 'Failed to pull image "nginx:1.99-doesnotexist": rpc error: code = '
            "NotFound desc = failed to pull and unpack image "
            '"docker.io/library/nginx:1.99-doesnotexist": failed to resolve reference '
            '"docker.io/library/nginx:1.99-doesnotexist": docker.io/library/nginx:'
            "1.99-doesnotexist: not found",
            "timestamp": "2026-11-22T09:00:05+00:00",
        }
    ],
    "logs": "",
    "manifest": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5f7c9d8b6-zt4qp\n"
    "  namespace: default\nspec:\n  containers:\n  - name: web\n"
    "    image: nginx:1.99-doesnotexist\n",
}


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway (with ingest and failure-analyzer behind it); the client is not logged in."""
    async with backed_gateway("ingest", "failure-analyzer") as client:
        yield client


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client, logged in as the initial admin."""
    assert (await api.post("/api/auth/signup", json=ADMIN)).status_code == 201
    return api


async def _report(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    resp = await api.post("/api/pods/failed", json=copy.deepcopy(REPORT) | changes, headers=AGENT)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_the_agent_reports_and_gets_the_diagnosed_record(admin: httpx.AsyncClient) -> None:
    record = await _report(admin)
    assert isinstance(record["id"], int)
    assert record["pod_name"] == REPORT["pod_name"]
    assert record["failure_reason"] == "ImagePullBackOff"
    assert record["timestamp"] == REPORT["creation_timestamp"]
    assert record["events"][0]["reason"] == "Failed"
    assert "## Root Cause" in record["solution"]
    assert "nginx:1.99-doesnotexist" in record["solution"]
    listed = (await admin.get("/api/pods/failed")).json()
    assert [r["id"] for r in listed] == [record["id"]]
    again = await _report(admin, failure_message="still failing")
    assert again["id"] == record["id"]
    assert again["report_count"] == 2


async def test_report_errors_are_kures(admin: httpx.AsyncClient) -> None:
    resp = await admin.post("/api/pods/failed", json=REPORT | {"pod_name": ""}, headers=AGENT)
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Pod name and namespace are required"},
    )
    resp = await admin.post("/api/pods/failed", content=b"[1]", headers=AGENT)
    assert resp.status_code == 400
    resp = await admin.post("/api/pods/failed", json=REPORT)  # a user session, not the agent
    assert resp.status_code == 403
    resp = await admin.post("/api/pods/failed", json=REPORT, headers={"X-Service-Token": "no"})
    assert (resp.status_code, resp.json()) == (401, {"detail": "Not authenticated"})


async def test_triage_through_status_dismiss_restore(admin: httpx.AsyncClient) -> None:
    record = await _report(admin)
    pod_id = record["id"]
    resp = await admin.put(f"/api/pods/{pod_id}/status", json={"status": "investigating"})
    assert (resp.status_code, resp.json()["status"]) == (200, "investigating")
    resp = await admin.put(f"/api/pods/{pod_id}/status", json={"status": "fixed"})
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Invalid status. Must be one of: new, investigating, resolved, ignored"},
    )
    resp = await admin.put(f"/api/pods/{pod_id}/status", json={"status": "ignored"})
    assert resp.status_code == 200
    assert [r["id"] for r in (await admin.get("/api/pods/ignored")).json()] == [pod_id]
    assert (await admin.get("/api/pods/failed")).json() == []
    resp = await admin.put(f"/api/pods/ignored/{pod_id}/restore")
    assert (resp.status_code, resp.json()) == (200, {"message": "Pod failure restored"})
    resp = await admin.delete(f"/api/pods/failed/{pod_id}")
    assert (resp.status_code, resp.json()) == (200, {"message": "Pod failure dismissed"})
    history = (await admin.get("/api/pods/history")).json()
    assert [(r["id"], r["status"]) for r in history] == [(pod_id, "resolved")]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/pods/4242/status", {"status": "resolved"}),
        ("DELETE", "/api/pods/failed/4242", None),
        ("PUT", "/api/pods/ignored/4242/restore", None),
        ("POST", "/api/pods/failed/4242/retry-solution", None),
    ],
)
async def test_unknown_ids_are_404_with_kures_detail(
    admin: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    resp = await admin.request(method, path, json=body)
    assert (resp.status_code, resp.json()) == (404, {"detail": "Pod failure not found"})


async def test_retry_solution_rediagnoses(admin: httpx.AsyncClient) -> None:
    record = await _report(admin)
    resp = await admin.post(f"/api/pods/failed/{record['id']}/retry-solution")
    assert resp.status_code == 200
    assert resp.json()["solution"] == record["solution"]  # offline analysis is deterministic
    assert resp.json()["solution_source"] == "offline"


async def test_dismiss_deleted_is_for_the_agent(admin: httpx.AsyncClient, nc: NATS) -> None:
    record = await _report(admin)
    body = {"namespace": "default", "pod_name": REPORT["pod_name"]}
    assert (await admin.post("/api/pods/dismiss-deleted", json=body)).status_code == 403
    resp = await admin.post("/api/pods/dismiss-deleted", json=body, headers=AGENT)
    assert (resp.status_code, resp.json()["message"]) == (200, "Pod auto-resolved")
    assert [r["id"] for r in (await admin.get("/api/pods/history")).json()] == [record["id"]]
    resp = await admin.post(
        "/api/pods/dismiss-deleted", json={"namespace": "", "pod_name": "x"}, headers=AGENT
    )
    assert resp.status_code == 400
    events = await eventually(
        lambda: stored_messages(nc, bus.feed_subject("pod_deleted"), bus.FEED.name),
        bool,
        what="pod_deleted",
    )
    assert msgspec.json.decode(events[0].data)["data"] == body


async def test_lists_page_with_a_cursor(admin: httpx.AsyncClient) -> None:
    for n in range(5):
        await _report(admin, pod_name=f"web-{n}")
    first = await admin.get("/api/pods/failed", params={"limit": 2})
    assert [r["pod_name"] for r in first.json()] == ["web-4", "web-3"]
    cursor = first.headers["X-Next-Cursor"]
    second = await admin.get("/api/pods/failed", params={"limit": 2, "cursor": cursor})
    assert [r["pod_name"] for r in second.json()] == ["web-2", "web-1"]
    bad = await admin.get("/api/pods/failed", params={"cursor": "zzz"})
    assert bad.status_code == 400


async def test_reading_needs_a_session(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/pods/failed")
    assert (resp.status_code, resp.json()) == (401, {"detail": "Not authenticated"})
