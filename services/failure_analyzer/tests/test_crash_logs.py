"""Crash logs as the Kure agent sends them: decoded, bounded, line-capped, redacted.

Pins the agent's ``failure_logs`` wire format from ``Nan0C0de/kure-monitor``
``agent/services/data_collector.py`` at commit 05d2b6cc86a9f29b8edd898f05f686d0e57fa05a
(``_encode_log_block``: the last 256 KiB of the log, gzip level 6, base64, with
``original_size``, ``lines``, ``truncated``; ``{"version": 1, "encoding": "gzip+base64",
"containers": {name: {"previous", "current", "error"}}}``).
"""

from __future__ import annotations

import base64
import gzip
import time
import zlib
from pathlib import Path
from typing import Any

import msgspec

from kubeward.failure_analyzer.crash_logs import (
    MAX_LINE_CHARS,
    MAX_LOG_BYTES,
    CleanBlock,
    CleanLogs,
    as_failure_logs,
    clean,
    inflate_tail,
    merge,
    with_logs,
)
from kubeward.failure_analyzer.diagnosis import diagnose
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.schemas.pod_failures import PodFailureReport

REPORTS = Path(__file__).parent / "reports"
DB_PASSWORD = "pg-Sup3rS3cret-2026"
MANIFEST = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-7d4b9c-x2x\n  namespace: shop\n"
    "spec:\n  containers:\n  - name: api\n    image: acme/api:1.4.2\n    env:\n"
    f"    - name: DB_PASSWORD\n      value: {DB_PASSWORD}\n"
)


def agent_block(text: str) -> dict[str, Any]:
    """A log block exactly as the agent's ``_encode_log_block`` builds it."""
    raw = text.encode("utf-8")
    truncated = False
    if len(raw) > 256 * 1024:
        raw = raw[-256 * 1024 :]
        newline = raw.find(b"\n")
        if 0 <= newline < len(raw) - 1:
            raw = raw[newline + 1 :]
        truncated = True
    lines = raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0)
    return {
        "data": base64.b64encode(gzip.compress(raw, compresslevel=6)).decode("ascii"),
        "original_size": len(raw),
        "lines": lines,
        "truncated": truncated,
    }


def report(containers: dict[str, Any]) -> PodFailureReport:
    """A CrashLoopBackOff report of the agent carrying ``failure_logs``."""
    body = msgspec.json.decode((REPORTS / "crash_missing_env_python.json").read_bytes())
    body |= {
        "logs": "",
        "manifest": MANIFEST,
        "failure_logs": {"version": 1, "encoding": "gzip+base64", "containers": containers},
    }
    return msgspec.convert(body, PodFailureReport)


CRASH_LOG = (
    "2026-11-20T08:14:58Z INFO starting api 1.4.2\n"
    f"2026-11-20T08:14:59Z DEBUG dsn=postgres://api:{DB_PASSWORD}@db:5432/shop\n"
    "2026-11-20T08:14:59Z DEBUG auth header Authorization: Bearer abcdef0123456789abcdef\n"
    "Traceback (most recent call last):\n"
    '  File "/app/main.py", line 12, in <module>\n'
    '    TOKEN = os.environ["PAYMENT_TOKEN"]\n'
    "KeyError: 'PAYMENT_TOKEN'\n"
)


def test_agent_blocks_are_decoded_redacted_and_kept_with_their_metadata() -> None:
    block = agent_block(CRASH_LOG)
    logs = clean(
        report(
            {
                "api": {"previous": block, "current": None, "error": None},
                "sidecar": {"previous": None, "current": None, "error": "no_previous_instance"},
            }
        )
    )
    assert logs is not None and logs.captured
    api, sidecar = logs.blocks
    assert (api.container, api.source, api.original_size, api.lines, api.truncated) == (
        "api",
        "previous",
        block["original_size"],
        7,
        False,
    )
    text = api.text()
    assert "KeyError: 'PAYMENT_TOKEN'" in text
    assert DB_PASSWORD not in text  # the manifest's env value, wherever it shows up
    assert "abcdef0123456789abcdef" not in text  # a bearer token
    assert "[REDACTED]" in text
    assert (sidecar.container, sidecar.error, sidecar.gz) == (
        "sidecar",
        "no_previous_instance",
        b"",
    )


def test_the_analyzers_read_the_cleaned_logs_back_in_the_wire_shape() -> None:
    original = report({"api": {"previous": agent_block(CRASH_LOG)}})
    logs = clean(original)
    assert logs is not None
    wire = as_failure_logs(logs)
    assert wire.containers["api"].previous is not None
    finding = diagnose(with_logs(original, logs)).primary
    assert finding is not None
    assert finding.analyzer == "crash.missing-env"
    assert "PAYMENT_TOKEN" in finding.root_cause


def test_a_gzip_bomb_costs_bounded_time_and_memory() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    data = base64.b64encode(bomb).decode("ascii")  # 256 MiB of zeros, ~250 KiB sent
    started = time.perf_counter()
    inflated = inflate_tail(data)
    elapsed = time.perf_counter() - started
    assert inflated is not None
    kept, dropped = inflated
    assert len(kept) == MAX_LOG_BYTES
    assert dropped
    assert elapsed < 2.0, elapsed
    logs = clean(report({"api": {"previous": {"data": data, "original_size": 1}}}))
    assert logs is not None and logs.blocks[0].truncated


def test_the_tail_of_a_long_log_is_kept() -> None:
    text = "".join(f"line {n}\n" for n in range(100_000)) + "KeyError: 'LAST_VAR'\n"
    block = {"data": base64.b64encode(gzip.compress(text.encode())).decode()}
    logs = clean(report({"api": {"previous": block}}))
    assert logs is not None
    kept = logs.blocks[0].text()
    assert kept.endswith("KeyError: 'LAST_VAR'\n")
    assert kept.startswith("line ")  # cut at a line start
    assert len(kept.encode()) <= MAX_LOG_BYTES
    assert logs.blocks[0].truncated


def test_one_huge_line_is_capped_and_costs_the_analyzers_little() -> None:
    text = "eyJ." * 500_000 + "\nKeyError: 'PAYMENT_TOKEN'\n"  # a 2 MB line, JWT-ish
    original = report({"api": {"previous": agent_block(text)}})
    logs = clean(original)
    assert logs is not None
    lines = logs.blocks[0].text().split("\n")
    assert max(len(line) for line in lines) <= MAX_LINE_CHARS + 20
    assert logs.blocks[0].truncated
    started = time.perf_counter()
    finding = diagnose(with_logs(original, logs)).primary
    assert time.perf_counter() - started < 2.0
    assert finding is not None and "PAYMENT_TOKEN" in finding.root_cause


def test_a_long_line_of_name_characters_is_no_longer_quadratic_for_the_analyzers() -> None:
    # The dependency analyzer's "host:port Connection refused" pattern took 23 s on one
    # 64 KiB line of letters before it only started matching where a host name can start.
    original = report({"api": {"previous": agent_block("a" * 65536 + "\n")}})
    started = time.perf_counter()
    diagnose(original)
    assert time.perf_counter() - started < 2.0


def test_blocks_that_are_not_gzip_base64_are_left_out() -> None:
    logs = clean(
        report(
            {
                "a": {"previous": {"data": "!!!not base64!!!"}},
                "b": {"previous": {"data": base64.b64encode(b"plain text").decode()}},
            }
        )
    )
    assert logs is not None
    assert logs.blocks == [] and not logs.captured
    assert clean(msgspec.structs.replace(report({}), failure_logs=None)) is None


def test_a_later_error_only_report_keeps_the_logs_a_new_log_replaces_them() -> None:
    first = CleanLogs(
        blocks=[CleanBlock(container="api", source="previous", gz=gzip.compress(b"first"))]
    )
    error_only = CleanLogs(
        blocks=[CleanBlock(container="api", source="previous", error="permission_denied")]
    )
    kept = merge(first, error_only)
    assert [b.text() for b in kept.blocks] == ["first"]
    newer = CleanLogs(
        blocks=[CleanBlock(container="api", source="previous", gz=gzip.compress(b"second"))]
    )
    assert [b.text() for b in merge(kept, newer).blocks] == ["second"]


def test_the_agents_logs_field_is_line_capped_for_the_analyzers_too() -> None:
    original = msgspec.structs.replace(
        report({}), failure_logs=None, logs="x" * 50_000 + "\nKeyError: 'PAYMENT_TOKEN'\n"
    )
    (source,) = ReportView(original).logs
    assert max(len(line) for line in source.text.split("\n")) <= MAX_LINE_CHARS + 20
    finding = diagnose(original).primary
    assert finding is not None and "PAYMENT_TOKEN" in finding.root_cause
