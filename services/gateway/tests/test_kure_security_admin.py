"""Kure's scanner and dashboard on the security and admin routes, through the gateway with
ingest, security and failure-analyzer in-process on real NATS, MongoDB and Redis.

Pins Nan0C0de/kure-monitor:
- ``security-scanner/services/backend_client.py`` @ ad0e2a90: the finding body (Kure's
  scanner sends ``title``, not ``check_name``, and attaches the resource's YAML as
  ``manifest``: ``security_scanner.py`` ``report_finding``), ``X-Service-Token`` on every call,
  and its reads of ``/api/admin/excluded-namespaces``, ``excluded-rules`` and
  ``trusted-registries`` (lists of objects: ``namespace``; ``rule_title``/``namespace``;
  ``registry``).
- ``backend/api/routes_security.py`` (newest stored version, with ``require_write`` on
  ``/security/rescan``) and ``backend/services/websocket.py`` @ c360f897
  (``security_rescan_request`` with ``{}``, ``rule_exclusion_change``).
- ``backend/api/routes_admin.py`` @ 531f0287 and ``backend/database/mixins/exclusions.py``
  @ ca2761d3: excluded rules (base-title matching, ``namespace`` null when global), rule
  titles, namespaces and monitored pods from stored data, trusted registries.
- ``frontend/src/services/api.js`` (newest stored version) and the admin tabs
  ``ExclusionNamespaces.js`` @ 02c0a238, ``ExclusionRules.js``/``ExclusionRegistries.js``
  @ 3f60169a: what the dashboard sends and maps over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import msgspec
import pytest
import yaml
from nats.aio.client import Client as NATS

from kubeward.devstack.testing import eventually
from kubeward.schemas import bus

TOKEN = "svc-token"
SCANNER = {"X-Service-Token": TOKEN}
ADMIN = {"username": "root", "password": "correct horse battery"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

# What the scanner's get_resource_manifest attaches: the object as the API returned it.
POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: '2026-11-22T09:00:00Z'
  managedFields:
  - manager: kubelet
    operation: Update
  name: api-7d9f8b6c4-abc12
  namespace: shop
  resourceVersion: '4711'
  uid: 0b6f0c1e-6c1a-4c55-9d3e-1f2a3b4c5d6e
spec:
  containers:
  - image: shop/api:1.2
    name: app
    securityContext:
      privileged: true
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /data
      name: data
    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      name: kube-api-access-x7k2p
  nodeName: worker-1
  schedulerName: default-scheduler
  serviceAccountName: default
  volumes:
  - emptyDir: {}
    name: data
  - name: kube-api-access-x7k2p
    projected:
      sources: []
status:
  phase: Running
  podIP: 10.1.2.3
"""


def scanner_finding(title: str, namespace: str = "shop", **extra: Any) -> dict[str, Any]:
    """A finding exactly as Kure's scanner builds it (pod_scanner.py)."""
    return {
        "resource_type": "Pod",
        "resource_name": "api-7d9f8b6c4-abc12",
        "namespace": namespace,
        "severity": "critical",
        "category": "Security",
        "title": title,
        "description": "Container 'app' is running in privileged mode.",
        "remediation": "Remove 'privileged: true' from the container's securityContext.",
        "timestamp": "2026-11-22T09:00:00Z",
        "manifest": POD_YAML,
        **extra,
    }


REPORT: dict[str, Any] = {
    "pod_name": "web-5f7c9d8b6-zt4qp",
    "namespace": "default",
    "node_name": "worker-1",
    "phase": "Pending",
    "creation_timestamp": "2026-11-22T09:00:00+00:00",
    "failure_reason": "ImagePullBackOff",
    "failure_message": 'Back-off pulling image "nginx:1.99-doesnotexist"',
    "container_statuses": [],
    "events": [],
    "logs": "",
    "manifest": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5f7c9d8b6-zt4qp\n"
    "  namespace: default\nspec:\n  hostNetwork: true\n  containers:\n  - name: web\n"
    "    image: nginx:1.99-doesnotexist\n",
}


class Stack:
    """The gateway's clients: the admin (dashboard), a writer, a reader, the scanner."""

    def __init__(self, url: str) -> None:
        self.admin = httpx.AsyncClient(base_url=url, timeout=30)
        self.writer = httpx.AsyncClient(base_url=url, timeout=30)
        self.reader = httpx.AsyncClient(base_url=url, timeout=30)
        self.scanner = httpx.AsyncClient(base_url=url, timeout=30, headers=SCANNER)

    async def close(self) -> None:
        for client in (self.admin, self.writer, self.reader, self.scanner):
            await client.aclose()

    async def report(self, finding: dict[str, Any]) -> dict[str, Any]:
        """POST a finding as the scanner does; the answer."""
        resp = await self.scanner.post("/api/security/findings", json=finding)
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer

    async def scanned(self) -> list[tuple[str, str]]:
        """(namespace, title) of the scanner's active findings, as the dashboard lists them."""
        listed = (await self.admin.get("/api/security/findings")).json()
        return sorted((f["namespace"], f["title"]) for f in listed if f["source"] == "scanner")


@pytest.fixture
async def stack(backed_gateway: BackedGateway) -> AsyncIterator[Stack]:
    """Gateway + ingest + security + failure-analyzer; admin, writer and reader logged in."""
    async with backed_gateway("ingest", "security", "failure-analyzer") as gateway:
        s = Stack(str(gateway.base_url))
        try:
            assert (await s.admin.post("/api/auth/signup", json=ADMIN)).status_code == 201
            for client, role in ((s.writer, "write"), (s.reader, "read")):
                user = {"username": role + "r", "password": f"{role}-password-1", "role": role}
                assert (await s.admin.post("/api/admin/users", json=user)).status_code == 201
                login = {"username": user["username"], "password": user["password"]}
                assert (await client.post("/api/auth/login", json=login)).status_code == 200
            yield s
        finally:
            await s.close()


async def test_a_findings_manifest_as_the_manifest_viewer_reads_it(stack: Stack) -> None:
    stored = await stack.report(scanner_finding("Privileged container: app"))
    resp = await stack.reader.get(f"/api/security/findings/{stored['id']}/manifest")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {
        "id",
        "manifest",
        "resource_type",
        "resource_name",
        "namespace",
        "title",
        "description",
        "remediation",
        "severity",
    }
    assert (body["id"], body["title"], body["severity"]) == (
        stored["id"],
        "Privileged container: app",
        "critical",
    )
    manifest = yaml.safe_load(body["manifest"])
    # What the cluster assigned is gone; what a user would apply stays.
    assert "status" not in manifest
    assert set(manifest["metadata"]) == {"name", "namespace"}
    spec = manifest["spec"]
    assert not {"nodeName", "schedulerName", "serviceAccountName"} & set(spec)
    assert spec["volumes"] == [{"emptyDir": {}, "name": "data"}]
    (container,) = spec["containers"]
    assert container["securityContext"] == {"privileged": True}
    assert container["volumeMounts"] == [{"mountPath": "/data", "name": "data"}]
    assert "terminationMessagePath" not in container
    # The list does not carry the manifest text.
    assert "manifest" not in (await stack.admin.get("/api/security/findings")).json()[0]

    for unknown in ("999999", "abc"):
        missing = await stack.admin.get(f"/api/security/findings/{unknown}/manifest")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Finding not found"})

    # A built-in finding has no text of its own: its resource's stored manifest is shown.
    # An agent's failed-pod report: the built-in scanner scans its manifest.
    assert (await stack.scanner.post("/api/pods/failed", json=REPORT)).status_code == 200
    rows = await eventually(
        lambda: stack.admin.get("/api/security/findings", params={"check": "host-network"}),
        lambda r: bool(r.json()),
        what="the built-in host-network finding",
    )
    finding = rows.json()[0]
    body = (await stack.admin.get(f"/api/security/findings/{finding['id']}/manifest")).json()
    manifest = yaml.safe_load(body["manifest"])
    assert manifest["metadata"]["name"] == REPORT["pod_name"]
    assert manifest["spec"]["hostNetwork"] is True
    assert body["title"] == finding["title"]


async def test_rescan_and_the_scanners_admin_reads(stack: Stack, nc: NATS) -> None:
    requests = await nc.subscribe(bus.feed_subject("security_rescan_request"))
    statuses = await nc.subscribe(bus.feed_subject("security_rescan_status"))
    assert (await stack.reader.post("/api/security/rescan")).status_code == 403
    resp = await stack.writer.post("/api/security/rescan")
    assert (resp.status_code, resp.json()) == (200, {"message": "Security rescan requested"})
    event = msgspec.json.decode((await requests.next_msg(timeout=10)).data)
    assert event == {"type": "security_rescan_request", "data": {}}
    # The built-in scanner rescans too, announced as Kure's scanner announces its rescans.
    started = msgspec.json.decode((await statuses.next_msg(timeout=10)).data)
    completed = msgspec.json.decode((await statuses.next_msg(timeout=10)).data)
    assert [started["data"], completed["data"]] == [
        {"status": "started", "reason": "manual"},
        {"status": "completed", "reason": "manual"},
    ]

    # The scanner reads the excluded namespaces with its token, as a list of rows.
    await stack.admin.post("/api/admin/excluded-namespaces", json={"namespace": "kube-system"})
    data = (await stack.scanner.get("/api/admin/excluded-namespaces")).json()
    # backend_client.get_excluded_namespaces: [item.get("namespace") for item in data]
    assert [item.get("namespace") for item in data if item.get("namespace")] == ["kube-system"]
    assert (await stack.scanner.post("/api/admin/excluded-namespaces", json={})).status_code == 403

    # Trusted registries under /api/admin: the same store as /api/security's.
    # The scanner merges these into its own list (backend_client.get_trusted_registries).
    assert (await stack.scanner.get("/api/admin/trusted-registries")).json() == []
    added = await stack.admin.post(
        "/api/admin/trusted-registries", json={"registry": "ghcr.io/acme"}
    )
    assert added.status_code == 200 and added.json()["registry"] == "ghcr.io/acme"
    assert (await stack.admin.get("/api/admin/trusted-registries")).json() == [
        {"registry": "ghcr.io/acme", "created_at": None}
    ]
    shared = (await stack.admin.get("/api/security/trusted-registries")).json()
    assert "ghcr.io/acme" in shared["registries"]
    # removeTrustedRegistry: encodeURIComponent("ghcr.io/acme").
    assert (
        await stack.admin.delete("/api/admin/trusted-registries/ghcr.io%2Facme")
    ).status_code == 200
    assert (await stack.scanner.get("/api/admin/trusted-registries")).json() == []
    missing = await stack.admin.delete("/api/admin/trusted-registries/ghcr.io%2Facme")
    assert missing.status_code == 404
    blank = await stack.admin.post("/api/admin/trusted-registries", json={"registry": ""})
    assert (blank.status_code, blank.json()) == (400, {"detail": "Registry name is required"})


async def test_suggestions_then_a_suppressed_check_disappears_and_stays_away(
    stack: Stack, nc: NATS
) -> None:
    changes = await nc.subscribe(bus.feed_subject("rule_exclusion_change"))
    await stack.report(scanner_finding("Privileged container: app"))
    await stack.report(scanner_finding("Privileged container: sidecar"))
    await stack.report(scanner_finding("Privileged container: app", namespace="web"))
    await stack.report(scanner_finding("Writable root filesystem: app"))
    assert (await stack.scanner.post("/api/pods/failed", json=REPORT)).status_code == 200

    # Suggestions (ExclusionRules.js, ExclusionNamespaces.js, ExclusionPods.js).
    titles = (await stack.admin.get("/api/admin/rule-titles")).json()
    assert {"Privileged container: app", "Privileged container"} <= set(titles)
    assert "Pod uses the host network" in titles  # a built-in check's title
    assert titles == sorted(titles)
    in_shop = (await stack.admin.get("/api/admin/rule-titles", params={"namespace": "shop"})).json()
    assert in_shop == [
        "Privileged container",
        "Privileged container: app",
        "Privileged container: sidecar",
        "Writable root filesystem",
        "Writable root filesystem: app",
    ]
    await eventually(
        lambda: stack.admin.get("/api/admin/namespaces"),
        lambda r: r.json() == ["default", "shop", "web"],
        what="namespaces of findings and failures",
    )
    pods = await eventually(
        lambda: stack.admin.get("/api/admin/monitored-pods"),
        lambda r: bool(r.json()),
        what="the monitored pod",
    )
    assert pods.json() == [{"pod_name": REPORT["pod_name"], "namespace": "default"}]
    assert (await stack.reader.get("/api/admin/namespaces")).status_code == 403

    # The dashboard's addExcludedRule(ruleTitle, namespace), byte for byte.
    added = await stack.admin.post(
        "/api/admin/excluded-rules",
        content=b'{"rule_title":"Privileged container","namespace":"shop"}',
        headers={"Content-Type": "application/json"},
    )
    assert added.status_code == 200
    row = added.json()
    assert (row["rule_title"], row["namespace"]) == ("Privileged container", "shop")
    assert row["created_at"]
    event = msgspec.json.decode((await changes.next_msg(timeout=10)).data)
    assert event["data"] == {
        "rule_title": "Privileged container",
        "namespace": "shop",
        "action": "excluded",
    }
    # Every container's finding of that check in shop is gone; web's stays.
    assert await stack.scanned() == [
        ("shop", "Writable root filesystem: app"),
        ("web", "Privileged container: app"),
    ]
    # The scanner reports it again (a rescan): it stays away.
    again = await stack.report(scanner_finding("Privileged container: app"))
    assert again == {"excluded": True, "reason": "excluded_rule"}
    assert len(await stack.scanned()) == 2
    # The scanner reads the exclusions with its token (backend_client.get_excluded_rules).
    rules = (await stack.scanner.get("/api/admin/excluded-rules")).json()
    assert [(r["rule_title"], r["namespace"]) for r in rules] == [("Privileged container", "shop")]
    # A global exclusion by the finding's full title; namespace null as Kure answers it.
    glob = await stack.admin.post(
        "/api/admin/excluded-rules", json={"rule_title": "Writable root filesystem: app"}
    )
    assert glob.json()["namespace"] is None
    assert await stack.scanned() == [("web", "Privileged container: app")]
    blank = await stack.admin.post("/api/admin/excluded-rules", json={"rule_title": " "})
    assert (blank.status_code, blank.json()) == (400, {"detail": "Rule title is required"})
    assert (await stack.writer.post("/api/admin/excluded-rules", json=row)).status_code == 403

    # removeExcludedRule(ruleTitle, namespace): the check is reported again.
    path = "/api/admin/excluded-rules/Privileged%20container?namespace=shop"
    removed = await stack.admin.delete(path)
    assert removed.json() == {
        "message": "Rule 'Privileged container' removed from exclusion list (namespace 'shop')"
    }
    gone = await stack.admin.delete(path)
    assert (gone.status_code, gone.json()) == (
        404,
        {"detail": "Rule 'Privileged container' not found in exclusion list"},
    )
    back = await stack.report(scanner_finding("Privileged container: app"))
    assert back["title"] == "Privileged container: app" and back["id"]
    assert await stack.scanned() == [
        ("shop", "Privileged container: app"),
        ("web", "Privileged container: app"),
    ]
