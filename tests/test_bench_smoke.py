"""Keeps ``python -m bench.ingest`` from rotting: a tiny run must finish and print its ratios.

It asserts no timing: the figures depend on the machine. It needs nats-server and
SecantusDB like every end-to-end test; the benchmark starts its own on free ports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bench.ingest"
RATIO_LINES = (
    "pipeline / raw JetStream publish",
    "pipeline / raw JetStream pull",
    "pipeline / raw MongoDB insert_many",
)


def test_ingest_bench_runs_and_prints_ratios() -> None:
    """``python -m bench.ingest --events 2000`` exits 0 and prints every ratio line."""
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--events", "2000"],
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
    assert "N=2000 events" in done.stdout, output
