"""Metrics across processes: a service answers its own registry over real NATS, the gateway
gathers every service at once (a silent one costs one timeout) and merges the pages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from nats.aio.client import Client as NATS
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubeward.core import metrics
from kubeward.core.bus import ReplyInbox
from kubeward.core.health import HealthServer
from kubeward.core.metrics import LLMMetrics
from kubeward.core.service import ServiceContext, serving
from kubeward.core.settings import BaseSettings
from kubeward.schemas import bus


def test_ingest_keeps_its_subject() -> None:
    assert bus.metrics_subject("ingest") == bus.RPC_INGEST_METRICS
    assert bus.METRICS_SERVICES == ("ingest", "failure-analyzer", "security")


def test_families_reported_by_several_processes_appear_once_summed() -> None:
    analyzer, security = CollectorRegistry(), CollectorRegistry()
    LLMMetrics(analyzer).record("copilot", True, 0.25)
    on_security = LLMMetrics(security)
    on_security.record("copilot", True, 0.5)
    on_security.record("openai", False, 2.0)
    gauge = Gauge("kure_security_scan_duration_seconds", "Last scan", registry=security)
    gauge.set(12.5)
    page = metrics.merge(
        [generate_latest(analyzer), b"not { a metrics page\n", generate_latest(security)]
    ).decode()
    families = {f.name: f for f in text_string_to_metric_families(page)}
    assert page.count("# TYPE kure_llm_requests_total counter") == 1
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    copilot = (("provider", "copilot"),)
    assert samples[("kure_llm_requests_total", (*copilot, ("status", "success")))] == 2
    assert samples[("kure_llm_requests_total", (("provider", "openai"), ("status", "error")))] == 1
    assert samples[("kure_llm_request_duration_seconds_count", copilot)] == 2
    assert samples[("kure_llm_request_duration_seconds_sum", copilot)] == 0.75
    assert samples[("kure_security_scan_duration_seconds", ())] == 12.5
    assert families["kure_llm_request_duration_seconds"].type == "summary"


TIMEOUT = 3.0
"""Seconds ``gather`` waits: an in-process responder on the test's event loop answered too
late for 1 s once in a full run (the loop shared with 1300 tests' leftovers)."""


async def test_gather_asks_every_service_at_once_and_skips_the_silent(
    nats_url: str, nc: NATS
) -> None:
    registry = CollectorRegistry()
    Counter("kure_pod_failures", "Failures", ["namespace", "reason"], registry=registry).labels(
        "payments", "OOMKilled"
    ).inc()

    @contextlib.asynccontextmanager
    async def body(ctx: ServiceContext) -> AsyncIterator[None]:
        ctx.metrics = registry
        yield

    silent = await nc.subscribe(bus.metrics_subject("security"), cb=_ignore)  # never answers
    inbox = ReplyInbox(nc)
    await inbox.start()
    try:
        async with serving("failure-analyzer", BaseSettings(nats_url=nats_url), body):
            subjects = [(s, bus.metrics_subject(s)) for s in bus.METRICS_SERVICES]
            loop = asyncio.get_running_loop()
            started = loop.time()
            pages = await metrics.gather(inbox.request, subjects, timeout=TIMEOUT)
            elapsed = loop.time() - started
    finally:
        await inbox.stop()
        await silent.unsubscribe()
    # ingest has no responder (an immediate no-responders), security times out once.
    assert elapsed < 1.8 * TIMEOUT
    assert pages == [generate_latest(registry)]
    text = metrics.merge(pages).decode()
    assert 'kure_pod_failures_total{namespace="payments",reason="OOMKilled"} 1.0' in text


async def _ignore(_msg: object) -> None:
    return None


async def test_the_health_port_serves_the_services_own_registry() -> None:
    registry = CollectorRegistry()
    Gauge("kure_security_scan_duration_seconds", "Last scan", registry=registry).set(3.5)
    server = HealthServer("security", "127.0.0.1", 0, {}, registry)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            resp = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.stop()
    assert resp.status_code == 200
    assert "kure_security_scan_duration_seconds 3.5" in resp.text.splitlines()
    assert "python_info" in resp.text  # the process's default registry stays
