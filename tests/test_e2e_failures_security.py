"""End to end: failed pods and security findings reported by agents and scanners (over the
bus and over HTTP) reach the dashboard, all six services running as processes."""

from __future__ import annotations

import httpx
import msgspec
import nats

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import SERVICE_TOKEN, eventually
from kubeward.schemas import bus

AGENT = {"X-Service-Token": SERVICE_TOKEN}


def failure(pod: str) -> dict[str, object]:
    """An OOMKilled report as the Kure agent sends it."""
    return {
        "pod_name": pod,
        "namespace": "payments",
        "node_name": "worker-3",
        "phase": "Running",
        "creation_timestamp": "2026-11-23T07:00:00+00:00",
        "failure_reason": "OOMKilled",
        "failure_message": "",
        "container_statuses": [
            {
                "name": "ledger",
                "ready": False,
                "restart_count": 3,
                "image": "ghcr.io/acme/ledger:5.1.0",
                "state": "terminated",
                "reason": "OOMKilled",
                "exit_code": 137,
            }
        ],
        "events": [],
        "logs": "",
        "manifest": "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: ledger\n"
        "    image: ghcr.io/acme/ledger:5.1.0\n    resources:\n      limits:\n"
        "        memory: 256Mi\n",
    }


async def test_reports_from_bus_and_http_reach_the_dashboard(
    stack: ServiceSet, dashboard: httpx.AsyncClient
) -> None:
    nc = await nats.connect(stack.env["NATS_URL"])
    try:
        await nc.jetstream().publish(
            bus.COLLECT_POD_FAILURES, msgspec.json.encode(failure("ledger-0"))
        )
    finally:
        await nc.close()
    resp = await dashboard.post("/api/pods/failed", json=failure("ledger-1"), headers=AGENT)
    assert resp.status_code == 200, resp.text
    assert "256Mi" in resp.json()["solution"]

    async def listed() -> list[str]:
        rows = (await dashboard.get("/api/pods/failed")).json()
        return sorted(r["pod_name"] for r in rows)

    await eventually(listed, lambda pods: pods == ["ledger-0", "ledger-1"], what="both")


async def test_findings_from_the_scanner_and_the_built_in_scanner_reach_the_dashboard(
    stack: ServiceSet, dashboard: httpx.AsyncClient
) -> None:
    finding = {
        "resource_type": "Pod",
        "resource_name": "ledger-0",
        "namespace": "payments",
        "check_name": "privileged_container",
        "severity": "critical",
        "message": "Container 'ledger' is running in privileged mode",
        "remediation": "Remove 'privileged: true' from securityContext",
    }
    resp = await dashboard.post("/api/security/findings", json=finding, headers=AGENT)
    assert resp.status_code == 200, resp.text
    workload = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ledger", "namespace": "payments"},
        "spec": {
            "template": {
                "spec": {
                    "hostNetwork": True,
                    "containers": [{"name": "ledger", "image": "ghcr.io/acme/ledger:5.1.0"}],
                }
            }
        },
    }
    nc = await nats.connect(stack.env["NATS_URL"])
    try:
        await nc.jetstream().publish(bus.COLLECT_MANIFESTS, msgspec.json.encode(workload))
    finally:
        await nc.close()

    async def checks() -> set[str]:
        rows = (await dashboard.get("/api/security/findings?namespace=payments")).json()
        return {r["check_name"] for r in rows}

    await eventually(
        checks, lambda c: {"privileged_container", "host-network"} <= c, what="both kinds"
    )
