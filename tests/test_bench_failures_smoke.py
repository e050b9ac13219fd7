"""Keeps ``python -m bench.failures`` from rotting: a tiny run must finish and print its ratios.

It asserts no timing: the figures depend on the machine. It needs nats-server and
SecantusDB like every end-to-end test; the benchmark starts its own on free ports, and runs
ingest and failure-analyzer twice (without and with offline diagnosis).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bench.failures"
RATIO_LINES = (
    "pipeline / raw JetStream publish",
    "pipeline / raw MongoDB insert_many",
    "pipeline / offline analyzers alone",
    "pipeline with diagnosis / without",
    "pipeline without diagnosis / raw insert_many",
)


def test_failures_bench_runs_and_prints_ratios() -> None:
    """``python -m bench.failures --reports 200`` exits 0 and prints every ratio line."""
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--reports", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for line in RATIO_LINES:
        assert f"  {line} " in done.stdout, output
    assert "N=200 reports" in done.stdout, output
    assert "no LLM configured" in done.stdout, output
    assert "FEED: 200 pod_failure events" in done.stdout, output
