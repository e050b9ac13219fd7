"""``/api/mirror/*`` end to end: gateway over HTTP, ingest + failure-analyzer + mirror
in-process on real NATS/MongoDB/Redis, the mirror's kubernetes client against kmock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import kmock
import msgspec
import pytest
import yaml

from kubeward.core.service import serving
from kubeward.devstack.testing import eventually
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.settings import Settings as AnalyzerSettings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.mirror.app import mirror
from kubeward.mirror.settings import Settings as MirrorSettings

SECRET = "a-settings-secret-for-tests"  # as in conftest.py
TOKEN = "svc-token"
NS = "shop"
PODS = kmock.resource("", "v1", "pods")
MANIFEST = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "orders-1",
        "namespace": NS,
        "uid": "u-1",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "o", "uid": "x"}
        ],
    },
    "spec": {
        "nodeName": "worker-1",
        "containers": [
            {"name": "orders", "image": "orders:1", "resources": {"limits": {"memory": "100Mi"}}}
        ],
    },
}
REPORT: dict[str, Any] = {
    "pod_name": "orders-1",
    "namespace": NS,
    "failure_reason": "OOMKilled",
    "container_statuses": [{"name": "orders", "state": "terminated", "reason": "OOMKilled"}],
    "manifest": yaml.safe_dump(MANIFEST),
}


@pytest.fixture
async def services(
    nats_url: str, mongo_url: str, mongo_db_name: str, kmock_kubeconfig: str
) -> AsyncIterator[None]:
    """The services behind the mirror endpoints."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            serving("ingest", IngestSettings(nats_url=nats_url), ingest)
        )
        analyzer = AnalyzerSettings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            settings_secret=SECRET,
            retention_interval_seconds=3600,
        )
        await stack.enter_async_context(serving("failure-analyzer", analyzer, failure_analyzer))
        settings = MirrorSettings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            settings_secret=SECRET,
            kubeconfig=kmock_kubeconfig,
            reaper_interval_seconds=3600,
        )
        await stack.enter_async_context(serving("mirror", settings, mirror))
        yield


async def _failure(admin: httpx.AsyncClient) -> int:
    resp = await admin.post("/api/pods/failed", json=REPORT, headers={"X-Service-Token": TOKEN})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["id"])


async def test_preview_deploy_status_active_delete(
    services: None, admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    pod_id = await _failure(admin)
    resp = await admin.post(f"/api/mirror/preview/{pod_id}")
    assert resp.status_code == 200, resp.text
    preview = resp.json()
    assert set(preview) == {"fixed_manifest", "explanation", "is_fallback"}
    assert preview["is_fallback"] is True
    fixed = yaml.safe_load(preview["fixed_manifest"])
    assert fixed["spec"]["containers"][0]["resources"]["limits"]["memory"] == "200Mi"
    assert "ownerReferences" not in fixed["metadata"] and "nodeName" not in fixed["spec"]

    resp = await admin.post(
        f"/api/mirror/deploy/{pod_id}", json={"ttl_seconds": 180}, headers={"Idempotency-Key": "k1"}
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) >= {
        "mirror_id",
        "mirror_pod_name",
        "namespace",
        "status",
        "ttl_seconds",
        "created_at",
        "fixed_manifest",
        "explanation",
    }
    assert (body["namespace"], body["status"], body["ttl_seconds"]) == (NS, "Pending", 180)
    mirror_id, name = body["mirror_id"], body["mirror_pod_name"]
    assert name == f"orders-1-mirror-{mirror_id}"
    stored = kmock.objects[PODS, NS, name]
    assert stored["metadata"]["labels"]["kubeward.io/mirror"] == "true"
    assert "ownerReferences" not in stored["metadata"]
    # A retry with the same key: the same mirror.
    again = await admin.post(
        f"/api/mirror/deploy/{pod_id}", json={"ttl_seconds": 180}, headers={"Idempotency-Key": "k1"}
    )
    assert again.status_code == 200 and again.json()["mirror_id"] == mirror_id

    resp = await admin.get(f"/api/mirror/status/{mirror_id}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "Pending"  # kmock has no kubelet: no phase set
    active = await admin.get("/api/mirror/active")
    assert [m["mirror_id"] for m in active.json()] == [mirror_id]

    resp = await admin.delete(f"/api/mirror/{mirror_id}")
    assert resp.status_code == 200, resp.text
    assert (await admin.get("/api/mirror/active")).json() == []
    for method, path in (
        ("GET", f"/api/mirror/status/{mirror_id}"),
        ("DELETE", f"/api/mirror/{mirror_id}"),
        ("GET", "/api/mirror/status/no-such!"),
    ):
        resp = await admin.request(method, path)
        assert (resp.status_code, resp.json()) == (404, {"detail": "Mirror not found"})
    for path in ("/api/mirror/preview/424242", "/api/mirror/deploy/x"):
        resp = await admin.post(path)
        assert (resp.status_code, resp.json()) == (404, {"detail": "Pod failure not found"})


async def test_deploy_refusals(services: None, admin: httpx.AsyncClient) -> None:
    pod_id = await _failure(admin)
    resp = await admin.post(f"/api/mirror/deploy/{pod_id}", json={"ttl_seconds": 5})
    assert resp.status_code == 400
    assert resp.json() == {"detail": "ttl_seconds must be between 30 and 3600"}
    bad = msgspec.json.decode(msgspec.json.encode(MANIFEST))
    bad["spec"]["hostPID"] = True
    resp = await admin.post(f"/api/mirror/deploy/{pod_id}", json={"manifest": yaml.safe_dump(bad)})
    assert resp.status_code == 403
    assert "hostPID" in resp.json()["detail"]
    resp = await admin.post(f"/api/mirror/deploy/{pod_id}", json={"manifest": "kind: Service"})
    assert resp.status_code == 400


async def test_without_the_mirror_service_the_endpoints_answer_503(
    admin: httpx.AsyncClient,
) -> None:
    resp = await admin.get("/api/mirror/active")
    assert resp.status_code == 503
    assert resp.json() == {"detail": "Mirror service is not available"}


async def test_without_a_cluster_deploy_answers_503(
    nats_url: str, mongo_url: str, mongo_db_name: str, admin: httpx.AsyncClient
) -> None:
    settings = MirrorSettings(
        nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name, kubeconfig=""
    )
    async with serving("mirror", settings, mirror):
        resp = await eventually(
            lambda: admin.post("/api/mirror/deploy/1"),
            lambda r: (
                r.status_code != 503 or r.json()["detail"] != "Mirror service is not available"
            ),
        )
        assert (resp.status_code, resp.json()) == (
            503,
            {"detail": "Kubernetes client not available"},
        )
