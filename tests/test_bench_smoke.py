"""Keeps the benchmarks (``python -m bench.<name>``) from rotting: a small run of each must
finish and print every ratio line.

No timing is asserted: the figures depend on the machine. They need nats-server and
SecantusDB like every end-to-end test (the gateway one also redis-server); each benchmark
starts its own on free ports and runs its services as processes (failures runs ingest and
failure-analyzer twice, without and with offline diagnosis; diagram runs two gateways on
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
        ("--events", "2000"),
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
        "bench.network_policy",
        ("--flows", "3000", "--workload-flows", "500", "--runs", "1"),
        120,
        ("suggestion / raw read of its flows", "audit / raw read of the namespace's flows"),
        ("flows stored: 3000; workload shop/Deployment/api: 500 flows",),
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
