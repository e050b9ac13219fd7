"""Kure's dashboard and agent on failed pods, byte for byte, through gateway, ingest and
failure-analyzer on real NATS, MongoDB (SecantusDB) and Redis.

Pinned upstream (``Nan0C0de/kure-monitor``):
- ``frontend/src/services/api.js`` @ 531f0287ec468ee214d06354f8d7b134a3bc48c1:
  ``updatePodStatus`` (``PATCH /api/pods/failed/{id}/status``, ``JSON.stringify({status})``),
  ``deletePodRecord`` (``DELETE /api/pods/records/{id}``), ``generateLogAwareSolution`` /
  ``regenerateLogAwareSolution`` (``POST .../troubleshoot[?regenerate=true]``, no body).
- ``frontend/src/components/PodDetails.js`` and ``Dashboard.js`` @
  cfecd0cd760eb5b0f4bb7858c080221fa581dd00 (Acknowledge = investigating, Ignore, Restore =
  new; ``pod_status_change`` data is the whole record; ``pod_record_deleted`` has ``id``);
  ``TroubleshootSection.js`` @ 120b46e4028d7c5642e0f728fc274c0894483236 (shown when
  ``logs_captured`` and the reason is CrashLoopBackOff/OOMKilled/Error; reads
  ``solution`` and ``generated_at``).
- ``backend/api/routes_pods.py``, ``backend/models/models.py`` and
  ``backend/database/mixins/pod_failures.py`` @ 1fef2970589dd76baae86fca6bb3196d2f8783d7
  (transitions, details, answers), ``backend/database/mixins/failure_logs.py`` @
  41e81c30455c44bde3085c541b126211c3854745.
- ``agent/services/data_collector.py`` @ 05d2b6cc86a9f29b8edd898f05f686d0e57fa05a
  (``failure_logs``); the agent posts with aiohttp's ``json=`` (``json.dumps``).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import msgspec
import pytest
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from kubeward.devstack.fake_llm import FakeLLM, serve_fake_llm
from kubeward.devstack.testing import eventually, stored_messages
from kubeward.schemas import bus

TOKEN = "svc-token"
AGENT = {"X-Service-Token": TOKEN, "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}
ADMIN = {"username": "root", "password": "correct horse battery"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
DB_PASSWORD = "pg-Sup3rS3cret-2026"
LLM_ANSWER = (
    "## Root Cause\nThe previous instance exited on KeyError 'PAYMENT_TOKEN'.\n\n"
    "## Fix\n1. Set PAYMENT_TOKEN.\n\n## Verify\n```bash\nkubectl get pod\n```"
)
NOT_FOUND = {"detail": "Pod failure not found"}
POD = "checkout-7d4b9c6f5-x2x9q"
MANIFEST = (
    f"api_version: v1\nkind: Pod\nmetadata:\n  name: {POD}\n  namespace: shop\n"
    "spec:\n  containers:\n  - name: checkout\n    image: acme/checkout:1.4.2\n    env:\n"
    f"    - name: DB_PASSWORD\n      value: {DB_PASSWORD}\nstatus:\n  phase: Running\n"
)
CRASH_LOG = (
    "2026-11-20T08:14:58Z INFO starting checkout 1.4.2\n"
    f"2026-11-20T08:14:59Z DEBUG dsn=postgres://checkout:{DB_PASSWORD}@db:5432/shop\n"
    "Traceback (most recent call last):\n"
    '  File "/app/main.py", line 12, in <module>\n'
    '    TOKEN = os.environ["PAYMENT_TOKEN"]\n'
    "KeyError: 'PAYMENT_TOKEN'\n"
)


def log_block(text: str) -> dict[str, Any]:
    """``_encode_log_block`` of the agent (a log under its 256 KiB cap)."""
    raw = text.encode()
    return {
        "data": base64.b64encode(gzip.compress(raw, compresslevel=6)).decode("ascii"),
        "original_size": len(raw),
        "lines": raw.count(b"\n"),
        "truncated": False,
    }


def crash_report(**changes: Any) -> dict[str, Any]:
    """A CrashLoopBackOff report with ``failure_logs``, as ``collect_pod_data`` builds it."""
    body: dict[str, Any] = {
        "pod_name": POD,
        "namespace": "shop",
        "node_name": "worker-1",
        "phase": "Running",
        "creation_timestamp": "2026-11-20T08:10:00+00:00",
        "failure_reason": "CrashLoopBackOff",
        "failure_message": "back-off 40s restarting failed container=checkout",
        "container_statuses": [
            {
                "name": "checkout",
                "ready": False,
                "restart_count": 3,
                "image": "acme/checkout:1.4.2",
                "state": "waiting",
                "reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container=checkout",
                "exit_code": None,
            }
        ],
        "events": [
            {
                "type": "Warning",
                "reason": "BackOff",
                "message": "Back-off restarting failed container checkout",
                "timestamp": "2026-11-20T08:15:01+00:00",
            }
        ],
        "logs": "",
        "manifest": MANIFEST,
        "failure_logs": {
            "version": 1,
            "encoding": "gzip+base64",
            "containers": {
                "checkout": {"previous": log_block(CRASH_LOG), "current": None, "error": None}
            },
        },
    }
    return copy.deepcopy(body) | changes


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with ingest and failure-analyzer behind it; not logged in."""
    settings = {"failure-analyzer": {"llm_timeout_seconds": 5.0}}
    async with backed_gateway("ingest", "failure-analyzer", settings=settings) as client:
        yield client


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client with the initial admin's session cookie (the dashboard's auth)."""
    assert (await api.post("/api/auth/signup", json=ADMIN)).status_code == 201
    return api


async def agent_report(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """``BackendClient.report_failed_pod``: aiohttp ``json=`` is ``json.dumps``."""
    resp = await client.post("/api/pods/failed", content=json.dumps(body), headers=AGENT)
    assert resp.status_code == 200, resp.text
    record: dict[str, Any] = resp.json()
    return record


async def patch_status(client: httpx.AsyncClient, pod_id: Any, status: str) -> httpx.Response:
    """``api.updatePodStatus``: ``JSON.stringify({status})``."""
    return await client.patch(
        f"/api/pods/failed/{pod_id}/status",
        content=json.dumps({"status": status}, separators=(",", ":")),
        headers=JSON,
    )


async def feed(nc: NATS, event_type: str) -> list[dict[str, Any]]:
    """Every feed event of a type published so far (waits for at least one)."""
    msgs = await eventually(
        lambda: stored_messages(nc, bus.feed_subject(event_type), bus.FEED.name),
        bool,
        what=event_type,
    )
    return [msgspec.json.decode(m.data) for m in msgs]


async def test_acknowledge_ignore_restore_delete_as_the_dashboard(
    admin: httpx.AsyncClient, nc: NATS
) -> None:
    record = await agent_report(admin, crash_report(failure_logs=None))
    pod_id = record["id"]
    resp = await patch_status(admin, pod_id, "investigating")  # Acknowledge
    assert resp.status_code == 200
    acknowledged = resp.json()
    assert (acknowledged["id"], acknowledged["status"], acknowledged["dismissed"]) == (
        pod_id,
        "investigating",
        False,
    )
    assert acknowledged["pod_name"] == POD and acknowledged["resolution_note"] is None
    resp = await patch_status(admin, pod_id, "investigating")
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Cannot transition from 'investigating' to 'investigating'"},
    )
    resp = await patch_status(admin, pod_id, "new")  # Kure has no way back from investigating
    assert resp.json() == {"detail": "Cannot transition from 'investigating' to 'new'"}
    resp = await patch_status(admin, pod_id, "ignored")  # Ignore
    assert (resp.status_code, resp.json()["status"], resp.json()["dismissed"]) == (
        200,
        "ignored",
        True,
    )
    assert [r["id"] for r in (await admin.get("/api/pods/ignored")).json()] == [pod_id]
    resp = await patch_status(admin, pod_id, "new")  # Restore
    assert (resp.status_code, resp.json()["status"]) == (200, "new")
    resp = await patch_status(admin, pod_id, "resolved")  # resolution is the agent's
    assert resp.json() == {"detail": "Cannot transition from 'new' to 'resolved'"}
    resp = await patch_status(admin, pod_id, "fixed")
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Invalid status. Must be one of: new, investigating, resolved, ignored"},
    )
    for bad_id in (4242, "abc"):
        resp = await patch_status(admin, bad_id, "investigating")
        assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    # The documented PUT keeps kubeward's rules: investigating may go back to new.
    assert (await admin.put(f"/api/pods/{pod_id}/status", json={"status": "investigating"})).json()[
        "status"
    ] == "investigating"
    events = await feed(nc, "pod_status_change")
    first = events[0]["data"]
    assert (first["id"], first["status"], first["pod_name"]) == (pod_id, "investigating", POD)
    assert "solution" in first and "manifest" in first  # the whole record, as Kure sends it
    assert [e["data"]["status"] for e in events[:3]] == ["investigating", "ignored", "new"]

    # Delete, in History and Ignored.
    record = await agent_report(admin, crash_report(pod_name="other-pod"))
    pod_id = record["id"]
    resp = await admin.delete(f"/api/pods/records/{pod_id}")
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Can only delete resolved or ignored records (current status: new)"},
    )
    assert (await admin.delete(f"/api/pods/failed/{pod_id}")).status_code == 200  # resolve
    resp = await admin.delete(f"/api/pods/records/{pod_id}")
    assert (resp.status_code, resp.json()) == (200, {"message": "Pod record deleted"})
    assert (await admin.get("/api/pods/history")).json() == []
    resp = await admin.delete(f"/api/pods/records/{pod_id}")
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    events = await feed(nc, "pod_record_deleted")
    assert events[0]["data"]["id"] == pod_id
    resp = await admin.post(f"/api/pods/failed/{pod_id}/troubleshoot")
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)  # gone for every route


async def test_a_pods_manifest_is_its_latest_records(admin: httpx.AsyncClient) -> None:
    first = await agent_report(admin, crash_report(failure_logs=None))
    resp = await admin.get(f"/api/pods/shop/{POD}/manifest")
    assert resp.status_code == 200
    assert resp.json() == {
        "manifest": MANIFEST,
        "pod_name": POD,
        "namespace": "shop",
        "kind": "Pod",
        "name": POD,
        "id": first["id"],
        "timestamp": "2026-11-20T08:10:00+00:00",
    }
    await admin.delete(f"/api/pods/failed/{first['id']}")
    newer_manifest = MANIFEST.replace("1.4.2", "1.4.3")
    second = await agent_report(admin, crash_report(failure_logs=None, manifest=newer_manifest))
    assert second["id"] != first["id"]
    await admin.delete(f"/api/pods/failed/{second['id']}")  # both resolved: the newest wins
    resp = await admin.get(f"/api/pods/shop/{POD}/manifest")
    assert (resp.json()["id"], resp.json()["manifest"]) == (second["id"], newer_manifest)
    resp = await admin.get("/api/pods/shop/no-such-pod/manifest")
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    # Namespaces named like the failure routes' static segments reach the same route.
    for namespace in ("failed", "records"):
        await agent_report(admin, crash_report(failure_logs=None, namespace=namespace))
        resp = await admin.get(f"/api/pods/{namespace}/{POD}/manifest")
        assert (resp.status_code, resp.json()["namespace"]) == (200, namespace)
    logs = await admin.get(f"/api/pods/records/{POD}/logs")  # the log route, not a 405
    assert (logs.status_code, logs.json()) == (
        503,
        {"detail": "Kubernetes client not available"},
    )


async def test_crash_logs_are_stored_redacted_and_troubleshot_offline_as_kure(
    admin: httpx.AsyncClient, nc: NATS, mongo_url: str, mongo_db_name: str
) -> None:
    record = await agent_report(admin, crash_report())
    assert record["logs_captured"] is True
    assert "failure_logs" not in record
    listed = (await admin.get("/api/pods/failed")).json()
    assert listed[0]["logs_captured"] is True and listed[0]["log_aware_solution"] is None
    # What is kept in MongoDB is the decoded log, redacted.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        stored = await client[mongo_db_name]["pod_failure_logs"].find_one({"_id": record["id"]})
        raw_record = await client[mongo_db_name]["pod_failures"].find_one({"_id": record["id"]})
    finally:
        await client.close()
    assert stored is not None and raw_record is not None
    kept = gzip.decompress(stored["blocks"][0]["gz"]).decode()
    assert "KeyError: 'PAYMENT_TOKEN'" in kept and DB_PASSWORD not in kept
    assert "failure_logs" not in raw_record

    url = f"/api/pods/failed/{record['id']}/troubleshoot"
    resp = await admin.post(url)
    assert resp.status_code == 200
    answer = resp.json()
    assert (answer["cached"], answer["log_aware"], answer["solution_source"]) == (
        False,
        True,
        "offline",
    )
    assert answer["generated_at"].endswith("Z")
    assert "PAYMENT_TOKEN" in answer["solution"]  # read from the previous instance's log
    assert "previous logs of container checkout" in answer["solution"]
    assert DB_PASSWORD not in answer["solution"]
    again = (await admin.post(url)).json()
    assert (again["cached"], again["solution"], again["generated_at"]) == (
        True,
        answer["solution"],
        answer["generated_at"],
    )
    assert (await admin.post(url, params={"regenerate": "true"})).json()["cached"] is False
    shown = (await admin.get("/api/pods/failed")).json()[0]
    assert shown["log_aware_solution"] == answer["solution"]
    events = await feed(nc, "pod_troubleshoot_updated")
    assert (events[0]["data"]["pod_id"], events[0]["data"]["solution"]) == (
        record["id"],
        answer["solution"],
    )
    # A repeat report without logs keeps the stored ones.
    repeat = await agent_report(admin, crash_report(failure_logs=None))
    assert (repeat["id"], repeat["logs_captured"]) == (record["id"], True)

    # What Kure refuses.
    pulling = await agent_report(
        admin, crash_report(pod_name="web-1", failure_reason="ImagePullBackOff")
    )
    resp = await admin.post(f"/api/pods/failed/{pulling['id']}/troubleshoot")
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Log-aware troubleshoot not available for this failure type"},
    )
    no_logs = await agent_report(admin, crash_report(pod_name="web-2", failure_logs=None))
    assert no_logs["logs_captured"] is False
    resp = await admin.post(f"/api/pods/failed/{no_logs['id']}/troubleshoot")
    assert (resp.status_code, resp.json()) == (404, {"detail": "No captured logs for this pod"})
    first_crash = crash_report(pod_name="web-3")
    first_crash["failure_logs"]["containers"] = {
        "checkout": {"previous": None, "current": None, "error": "no_previous_instance"}
    }
    only_error = await agent_report(admin, first_crash)
    assert only_error["logs_captured"] is False
    resp = await admin.post(f"/api/pods/failed/{only_error['id']}/troubleshoot")
    assert resp.status_code == 404
    resp = await admin.post("/api/pods/failed/4242/troubleshoot")
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)

    # Deleting the record deletes its logs.
    assert (await admin.delete(f"/api/pods/failed/{record['id']}")).status_code == 200
    assert (await admin.delete(f"/api/pods/records/{record['id']}")).status_code == 200
    client = AsyncMongoClient(mongo_url)
    try:
        gone = await client[mongo_db_name]["pod_failure_logs"].find_one({"_id": record["id"]})
    finally:
        await client.close()
    assert gone is None


async def _llm_configured(admin: httpx.AsyncClient, server: FakeLLM) -> None:
    body = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-" + "x" * 24}
    resp = await admin.post("/api/admin/llm/config", json=body | {"base_url": server.url})
    assert resp.status_code == 200, resp.text


async def test_troubleshoot_asks_the_llm_with_the_redacted_logs(admin: httpx.AsyncClient) -> None:
    record = await agent_report(admin, crash_report())
    url = f"/api/pods/failed/{record['id']}/troubleshoot?regenerate=true"
    async with serve_fake_llm(LLM_ANSWER) as server:
        await _llm_configured(admin, server)

        async def ask() -> dict[str, Any]:
            resp = await admin.post(url)
            assert resp.status_code == 200, resp.text
            body: dict[str, Any] = resp.json()
            return body

        answer = await eventually(
            ask, lambda a: a["solution_source"] == "llm", what="an LLM answer"
        )
    assert (answer["solution"], answer["cached"], answer["log_aware"]) == (
        LLM_ANSWER,
        False,
        True,
    )
    prompts = [r.body.decode() for r in server.requests]
    assert any("KeyError: 'PAYMENT_TOKEN'" in p for p in prompts)  # the crash log went in
    assert all(DB_PASSWORD not in p for p in prompts)  # redacted, manifest and log alike
