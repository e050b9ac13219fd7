"""Kure's security endpoints through the gateway, with ingest and security running
in-process against real NATS, MongoDB and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

TOKEN = "svc-token"
SCANNER = {"X-Service-Token": TOKEN}
ADMIN = {"username": "root", "password": "correct horse battery"}
READER = {"username": "viewer", "password": "a reader's password", "role": "read"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

FINDING: dict[str, Any] = {
    "resource_type": "Pod",
    "resource_name": "my-app-7d9f8b6c4-abc12",
    "namespace": "default",
    "check_name": "privileged_container",
    "severity": "critical",
    "message": "Container 'app' is running in privileged mode",
    "remediation": "Remove 'privileged: true' from securityContext",
    "details": {"container": "app", "field": "securityContext.privileged"},
}
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  template:
    spec:
      containers:
      - name: web
        image: registry.untrusted.example/web:latest
        securityContext:
          privileged: true
"""


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with ingest and security behind it; the client is logged in as admin."""
    async with backed_gateway("ingest", "security") as client:
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        yield client


async def test_the_scanner_reports_and_users_list_with_filters(api: httpx.AsyncClient) -> None:
    resp = await api.post("/api/security/findings", json=FINDING, headers=SCANNER)
    assert resp.status_code == 200, resp.text
    stored = resp.json()
    assert (stored["check_name"], stored["severity"], stored["namespace"]) == (
        "privileged_container",
        "critical",
        "default",
    )
    again = await api.post("/api/security/findings", json=FINDING, headers=SCANNER)
    assert again.json()["id"] == stored["id"]
    low = FINDING | {"check_name": "no_limits", "severity": "low", "namespace": "web"}
    await api.post("/api/security/findings", json=low, headers=SCANNER)
    rows = (await api.get("/api/security/findings")).json()
    assert len(rows) == 2
    assert [
        r["id"] for r in (await api.get("/api/security/findings?severity=critical")).json()
    ] == [stored["id"]]
    assert [
        r["namespace"] for r in (await api.get("/api/security/findings?namespace=web")).json()
    ] == ["web"]
    assert len((await api.get("/api/security/findings?check=no_limits")).json()) == 1
    assert (
        len((await api.get(f"/api/security/findings?resource={FINDING['resource_name']}")).json())
        == 2
    )


async def test_scanner_errors_and_who_may_call(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/api/security/findings", json=FINDING | {"resource_name": ""}, headers=SCANNER
    )
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "Resource name and namespace are required"},
    )
    resp = await api.post(
        "/api/security/findings", json=FINDING | {"severity": "apocalyptic"}, headers=SCANNER
    )
    assert resp.status_code == 400
    assert (await api.post("/api/security/findings", json=FINDING)).status_code == 403
    resp = await api.post(
        "/api/security/rescan-status", json={"status": "halfway"}, headers=SCANNER
    )
    assert (resp.status_code, resp.json()) == (
        400,
        {"detail": "status must be 'started' or 'completed'"},
    )
    resp = await api.post(
        "/api/security/rescan-status", json={"status": "started", "reason": "x"}, headers=SCANNER
    )
    assert resp.status_code == 200
    resp = await api.post(
        "/api/metrics/security-scan-duration", json={"duration_seconds": 12.5}, headers=SCANNER
    )
    assert resp.status_code == 200
    resp = await api.post("/api/security/scan/clear", headers=SCANNER)
    assert resp.json()["message"] == "Security findings cleared"


async def test_dismiss_restore_delete_resource_and_404s(api: httpx.AsyncClient) -> None:
    stored = (await api.post("/api/security/findings", json=FINDING, headers=SCANNER)).json()
    resp = await api.delete(f"/api/security/findings/{stored['id']}")
    assert (resp.status_code, resp.json()) == (200, {"message": "Security finding dismissed"})
    assert (await api.get("/api/security/findings")).json() == []
    assert len((await api.get("/api/security/findings?dismissed=true")).json()) == 1
    resp = await api.put(f"/api/security/findings/{stored['id']}/restore")
    assert resp.json() == {"message": "Security finding restored"}
    for method, path in (
        ("DELETE", "/api/security/findings/777"),
        ("PUT", "/api/security/findings/777/restore"),
        ("POST", "/api/security/findings/777/fix"),
        ("DELETE", "/api/security/findings/not-an-id"),
    ):
        resp = await api.request(method, path)
        assert (resp.status_code, resp.json()) == (404, {"detail": "Finding not found"}), path
    path = f"/api/security/findings/resource/Pod/default/{FINDING['resource_name']}"
    assert (await api.delete(path)).status_code == 403  # the scanner's, not a user's
    resp = await api.delete(path, headers=SCANNER)
    assert resp.json() == {"message": "Deleted 1 findings for resource", "count": 1}


async def test_fix_answers_kures_shape(api: httpx.AsyncClient) -> None:
    stored = (await api.post("/api/security/findings", json=FINDING, headers=SCANNER)).json()
    resp = await api.post(f"/api/security/findings/{stored['id']}/fix")
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert set(answer) >= {
        "finding_id",
        "original_manifest",
        "fixed_manifest",
        "diff",
        "explanation",
        "is_fallback",
    }
    assert answer["is_fallback"] is True
    assert "Remove 'privileged: true'" in answer["explanation"]


async def test_ad_hoc_scan_and_trusted_registries(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/api/security/scan", content=MANIFEST, headers={"content-type": "application/yaml"}
    )
    assert resp.status_code == 200, resp.text
    checks = {f["check"] for f in resp.json()["findings"]}
    assert {"privileged-container", "untrusted-registry", "image-tag-latest"} & checks
    assert "untrusted-registry" in checks
    resp = await api.post("/api/security/scan", json={"manifest": "kind: [oops"})
    assert resp.status_code == 400
    listed = (await api.get("/api/security/trusted-registries")).json()
    assert listed["registries"] == listed["defaults"]
    resp = await api.post(
        "/api/security/trusted-registries", json={"registry": "registry.untrusted.example"}
    )
    assert resp.status_code == 201, resp.text
    assert (
        "registry.untrusted.example"
        in (await api.get("/api/security/trusted-registries")).json()["registries"]
    )
    resp = await api.post(
        "/api/security/scan", content=MANIFEST, headers={"content-type": "application/yaml"}
    )
    assert "untrusted-registry" not in {f["check"] for f in resp.json()["findings"]}
    resp = await api.delete("/api/security/trusted-registries/registry.untrusted.example")
    assert resp.status_code == 200
    resp = await api.delete("/api/security/trusted-registries/registry.untrusted.example")
    assert resp.status_code == 404


async def test_registries_are_the_admins(api: httpx.AsyncClient) -> None:
    resp = await api.post("/api/admin/users", json=READER)
    assert resp.status_code in (200, 201), resp.text
    async with httpx.AsyncClient(base_url=str(api.base_url)) as reader:
        login = await reader.post(
            "/api/auth/login", json={k: READER[k] for k in ("username", "password")}
        )
        assert login.status_code == 200, login.text
        assert (await reader.get("/api/security/trusted-registries")).status_code == 200
        resp = await reader.post("/api/security/trusted-registries", json={"registry": "x.io"})
        assert resp.status_code == 403
