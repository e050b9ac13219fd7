"""Keeps the benchmarks (``python -m bench.<name>``) from rotting: a small run of each must
finish and print every ratio line.

No timing is asserted: the figures depend on the machine. They need nats-server and
SecantusDB like every end-to-end test (the gateway one also redis-server); each benchmark
starts its own on free ports and runs its services as processes (failures runs ingest and
failure-analyzer twice, without and with offline diagnosis; failure_http runs gateway,
ingest, failure-analyzer and security behind HTTP clients; diagram runs two gateways on
kmock's Kubernetes emulator; network_policy seeds one SecantusDB).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One benchmark's small run and what its output must contain."""

    module: str
    args: tuple[str, ...]
    timeout: float
    """Seconds the subprocess may take."""
    ratio_lines: tuple[str, ...]
    """Ratio labels; each must be printed as an indented ``  <label> ``."""
    lines: tuple[str, ...]
    """Other text the output must contain (the size line first)."""


CASES = (
    Case(
        "bench.ingest",
        ("--events", "2000", "--repeats", "30"),
        240,
        (
            "pipeline / raw JetStream publish",
            "pipeline / raw JetStream pull",
            "pipeline / raw MongoDB insert_many",
        ),
        ("N=2000 events",),
    ),
    Case(
        "bench.gateway",
        ("--clients", "50", "--messages", "20", "--requests", "500"),
        240,
        (
            "WS fan-out p50 / core NATS fan-out p50",
            "WS fan-out p99 / core NATS fan-out p99",
            "WS fan-out p50 / NATS round trip p50",
            "GET /api/auth/me / bare Litestar GET",
            "GET /api/admin/users / bare Litestar GET",
        ),
        ("C=50 clients", "N=500 requests"),
    ),
    Case(
        "bench.failures",
        ("--reports", "200"),
        150,
        (
            "pipeline / raw JetStream publish",
            "pipeline / raw MongoDB insert_many",
            "pipeline / offline analyzers alone",
            "pipeline with diagnosis / without",
            "pipeline without diagnosis / raw insert_many",
        ),
        ("N=200 reports", "no LLM configured", "FEED: 200 pod_failure events"),
    ),
    Case(
        "bench.failure_pages",
        ("--records", "300,600", "--repeats", "3"),
        180,
        (),
        (
            "--- 300 records ---",
            "--- 600 records ---",
            "raw limit, page of 100: bounded (status, _id) range",
            "--- cost at each size / cost at 300 records",
            "record() repeat report",
            "SecantusDB RSS MB (peak)",
        ),
    ),
    Case(
        "bench.failure_http",
        ("--reports", "60", "--size-reports", "30", "--sizes", "100,300"),
        150,
        (
            "POST / bare POST, 1 client(s)",
            "POST / bare POST, 32 client(s)",
            "POST / raw insert_many, 8 client(s)",
            "no stall: POST p99 with listers / alone",
            "no stall: POST p99 with listers / alone, listing findings",
        ),
        (
            "reports   60 per phase",
            "ms/report at 8 clients",
            "CPU ms per report at 32 clients",
            "GET /api/security/findings?limit=1000 meanwhile",
        ),
    ),
    Case(
        "bench.feed_latency",
        ("--clients", "20", "--reports", "5", "--interval-ms", "50"),
        180,
        (
            "frame p99 / POST answer p99 alone, 20",
            "frame p99 / core NATS fan-out p99, 20",
        ),
        ("reports   5 per client count", "POST → pod_failure frame, 20 clients"),
    ),
    Case(
        "bench.security",
        ("--workloads", "50"),
        150,
        (
            "pipeline / raw JetStream publish",
            "pipeline / raw MongoDB insert_many",
            "pipeline / scanner alone",
            "parse_manifests (YAML) / scanner alone",
        ),
        ("N=50 workloads", "findings by severity:", "dead letters 0"),
    ),
    Case(
        "bench.diagram",
        (
            "--pods",
            "60",
            "--deployments",
            "12",
            "--services",
            "6",
            "--requests",
            "20",
            "--uncached-requests",
            "5",
        ),
        90,
        (
            "namespace graph uncached / raw API fetch",
            "namespace graph cached / bare Litestar GET",
        ),
        ("namespace of P=60 pods, D=12 deployments, S=6 services", "graph     "),
    ),
    Case(
        "bench.listings",
        ("--findings", "300", "--flows", "500", "--http", "300", "--calls", "5"),
        120,
        (),
        (
            "300 findings:",
            "500 flows:",
            "300 HTTP traffic records:",
            "findings: active, page 1",
            "pod traffic: all, from the middle",
            "/http-traffics (plural): page 10",
        ),
    ),
    Case(
        "bench.soak",
        ("--minutes", "0.2", "--traffic-rate", "300", "--report-rate", "2", "--feeds", "3"),
        180,
        (),
        ("soak      0.2 min", "secantusdb ", "traffic_store ", "RSS each minute", "errors    none"),
    ),
    Case(
        "bench.network_policy",
        ("--flows", "3000", "--workload-flows", "500", "--storm", "600", "--runs", "1"),
        120,
        (
            "suggestion / raw read of its flows",
            "audit / raw read of the namespace's flows",
            "drops / raw read of the workload's flows",
            "storm search / reading every copy",
            "impact / raw read of the same flows",
        ),
        ("flows stored: 3000; workload shop/Deployment/api: 500 flows",),
    ),
    Case(
        "bench.runtime_cost",
        ("--messages", "2000", "--requests", "300", "--rounds", "1"),
        120,
        (
            "runtime / raw batch consumer (msg/s)",
            "runtime / raw request p50 (latency)",
            "runtime / raw requests in flight (req/s)",
        ),
        ("batch consumer, 2000 messages of ~1 KB", "request/reply, 300 requests:"),
    ),
)


@pytest.mark.parametrize("case", CASES, ids=[c.module for c in CASES])
def test_bench_runs_and_prints_ratios(case: Case) -> None:
    """``python -m <module> <small args>`` exits 0 and prints every ratio line and its size."""
    done = subprocess.run(
        [sys.executable, "-m", case.module, *case.args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=case.timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for line in case.ratio_lines:
        assert f"  {line} " in done.stdout, output
    for line in case.lines:
        assert line in done.stdout, output
