"""Keeps ``python -m bench.gateway`` from rotting: a small run must finish and print its ratios.

It asserts no timing: the figures depend on the machine. It needs nats-server, SecantusDB
and redis-server like every end-to-end test; the benchmark starts its own on free ports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bench.gateway"
RATIO_LINES = (
    "WS fan-out p50 / core NATS fan-out p50",
    "WS fan-out p99 / core NATS fan-out p99",
    "WS fan-out p50 / NATS round trip p50",
    "GET /api/auth/me / bare Litestar GET",
    "GET /api/admin/users / bare Litestar GET",
)


def test_gateway_bench_runs_and_prints_ratios() -> None:
    """``-m bench.gateway --clients 50 --messages 20 --requests 500`` exits 0 with every ratio."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            MODULE,
            "--clients",
            "50",
            "--messages",
            "20",
            "--requests",
            "500",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for line in RATIO_LINES:
        assert f"{line} " in done.stdout, output
    assert "C=50 clients" in done.stdout, output
    assert "N=500 requests" in done.stdout, output
