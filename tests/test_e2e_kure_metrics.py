"""End to end: Kure Monitor's Prometheus metrics on the gateway's ``/metrics``, counted by
the services that do the work (all six running as processes) and relayed over the bus.

A failed-pod report (over HTTP and over the bus), a scanner finding reported twice, a scan
duration and an AI solution from GitHub Models (provider ``copilot``, served by the local
fake LLM) must show as Kure's series with Kure's labels and values.

Pins ``Nan0C0de/kure-monitor`` ``backend/services/prometheus_metrics.py`` (commit
6eace08cdd5a3733cc47da53c8b89c084976afbb: names, types, help texts, labels) and where Kure
counts: ``backend/api/routes_pods.py`` (commit b4ee4188d519c6a1d609d217814fbe8c3962fd33:
one ``kure_pod_failures_total`` per report stored), ``backend/api/routes_security.py``
(commit c360f897b001b9bab8a201057328f903995cf31e: one ``kure_security_findings_total`` per
finding reported, new or not), ``backend/api/routes_metrics.py`` (commit
531f0287ec468ee214d06354f8d7b134a3bc48c1: the scan duration gauge) and
``backend/services/solution_engine.py`` (commit def6f3ac9e91af861bad253506300f46d7bba9ae:
one ``kure_llm_requests_total`` and one duration observation per model call).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import nats
import pytest

from kubeward.devstack.fake_llm import FakeLLM, serve_fake_llm
from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import SERVICE_TOKEN, eventually
from kubeward.schemas import bus

AGENT = {"X-Service-Token": SERVICE_TOKEN}
TOKEN = "github_pat_11CCCC0123456789_abcdefSECRET"


def report(pod: str) -> dict[str, object]:
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
            {"name": "ledger", "restart_count": 3, "state": "terminated", "exit_code": 137}
        ],
        "events": [],
        "logs": "",
    }


FINDING = {
    "resource_type": "Pod",
    "resource_name": "ledger-0",
    "namespace": "payments",
    "check_name": "privileged_container",
    "severity": "critical",
    "message": "Container 'ledger' is running in privileged mode",
    "remediation": "Remove 'privileged: true' from securityContext",
}


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    """GitHub Models' stand-in."""
    async with serve_fake_llm() as fake:
        yield fake


async def test_kure_metrics_reach_the_gateways_metrics(
    stack: ServiceSet, dashboard: httpx.AsyncClient, llm: FakeLLM
) -> None:
    config = {"provider": "copilot", "api_key": TOKEN, "model": "openai/gpt-5-mini"}
    config["base_url"] = llm.url + "/inference"
    assert (await dashboard.post("/api/admin/llm/config", json=config)).status_code == 200

    created = await dashboard.post("/api/pods/failed", json=report("ledger-1"), headers=AGENT)
    assert created.status_code == 200, created.text
    nc = await nats.connect(stack.env["NATS_URL"])
    try:
        await nc.jetstream().publish(
            bus.COLLECT_POD_FAILURES, msgspec.json.encode(report("ledger-0"))
        )
    finally:
        await nc.close()
    for _ in range(2):  # the scanner reports a finding again on every scan
        resp = await dashboard.post("/api/security/findings", json=FINDING, headers=AGENT)
        assert resp.status_code == 200, resp.text
    duration = {"duration_seconds": 42.5}
    resp = await dashboard.post("/api/metrics/security-scan-duration", json=duration, headers=AGENT)
    assert resp.status_code == 200, resp.text

    async def llm_solution() -> str:  # the analyzer may not have seen the config yet
        retried = await dashboard.post(f"/api/pods/failed/{created.json()['id']}/retry-solution")
        return str(retried.json().get("solution_source"))

    await eventually(llm_solution, lambda source: source == "llm", what="an LLM solution")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in llm.requests)
    assert {r.path for r in llm.requests} == {"/inference/chat/completions"}

    def expected() -> list[str]:
        # LLM jobs for the stored failures may still be calling: count what the server saw.
        calls = len(llm.requests)
        return [
            'kure_pod_failures_total{namespace="payments",reason="OOMKilled"} 2.0',
            'kure_security_findings_total{severity="critical"} 2.0',
            "kure_security_scan_duration_seconds 42.5",
            f'kure_llm_requests_total{{provider="copilot",status="success"}} {calls:.1f}',
            f'kure_llm_request_duration_seconds_count{{provider="copilot"}} {calls:.1f}',
        ]

    async def scrape() -> str:
        resp = await dashboard.get("/metrics")
        assert resp.status_code == 200
        return resp.text

    text = await eventually(
        scrape,
        lambda t: all(line in t.splitlines() for line in expected()),
        what="Kure's series",
    )
    for family, kind in (
        ("kure_pod_failures_total", "counter"),
        ("kure_security_findings_total", "counter"),
        ("kure_security_scan_duration_seconds", "gauge"),
        ("kure_llm_requests_total", "counter"),
        ("kure_llm_request_duration_seconds", "summary"),
    ):
        assert text.count(f"# TYPE {family} {kind}\n") == 1, family
    assert (
        "# HELP kure_pod_failures_total Total number of pod failures reported to the backend"
        in text
    )
    # kubeward's own series stay, from each service.
    assert 'kubeward_ingest_records_total{kind="pod-failures",outcome="accepted"} 2.0' in text
    assert 'kubeward_security_findings_total{outcome="created",source="scanner"} 1.0' in text
    assert "kubeward_gateway_requests_total" in text
