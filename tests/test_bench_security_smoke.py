"""Keeps ``python -m bench.security`` from rotting: a tiny run must finish and print its ratios.

It asserts no timing: the figures depend on the machine. It needs nats-server and
SecantusDB like every end-to-end test; the benchmark starts its own on free ports, and runs
ingest and security as processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bench.security"
RATIO_LINES = (
    "pipeline / raw JetStream publish",
    "pipeline / raw MongoDB insert_many",
    "pipeline / scanner alone",
    "parse_manifests (YAML) / scanner alone",
)


def test_security_bench_runs_and_prints_ratios() -> None:
    """``python -m bench.security --workloads 50`` exits 0 and prints every ratio line."""
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--workloads", "50"],
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
    assert "N=50 workloads" in done.stdout, output
    assert "findings by severity:" in done.stdout, output
    assert "dead letters 0" in done.stdout, output
