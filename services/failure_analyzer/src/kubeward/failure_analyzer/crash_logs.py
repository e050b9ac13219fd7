"""Crash logs: the agent's ``failure_logs`` made safe to keep, analyse and send on.

The Kure agent attaches, for crashed containers, the previous instance's log as a
gzip+base64 block (``{"data", "original_size", "lines", "truncated"}``, at most 256 KiB
before compression) or why it could not (``"error": "no_previous_instance"``, ...). Before
anything is stored or leaves the service, :func:`clean` turns each block into text that is

- **bounded**: decompressed as a stream, never more than :data:`MAX_INFLATE` bytes (a gzip
  bomb costs bounded time and memory), keeping the last :data:`MAX_LOG_BYTES` of it (a
  log's useful end);
- **line-capped**: no line longer than :data:`MAX_LINE_CHARS` characters, so no analyzer
  or redaction pattern ever runs over one huge line;
- **redacted** with the report's :class:`~kubeward.failure_analyzer.redaction.Redactor`
  (its env values, tokens, keys, passwords).

What is kept is recompressed (gzip) for storage: :class:`CleanLogs` is what the side
collection ``pod_failure_logs`` holds, one document per failure record, and
:func:`as_failure_logs` gives it back in the agent's wire shape, so the analyzers and the
LLM prompt read stored logs exactly as they read a fresh report.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from typing import Final, Literal

import msgspec

from kubeward.failure_analyzer.redaction import Redactor
from kubeward.failure_analyzer.report_view.log_blocks import MAX_LINE_CHARS, cap_lines
from kubeward.schemas.pod_failures import (
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodFailureReport,
)

__all__ = [
    "MAX_BLOCKS",
    "MAX_INFLATE",
    "MAX_LINE_CHARS",
    "MAX_LOG_BYTES",
    "CleanBlock",
    "CleanLogs",
    "as_failure_logs",
    "clean",
    "inflate_tail",
    "merge",
    "with_logs",
]

MAX_LOG_BYTES: Final = 256 * 1024
"""Decompressed bytes of one block that are kept: the agent's own cap (``MAX_RAW_BYTES``)."""
MAX_INFLATE: Final = 8 * 1024 * 1024
"""Decompression of one block stops here; what came out so far is kept (its tail)."""
MAX_BLOCKS: Final = 16
"""Blocks kept per record (8 containers' previous and current logs)."""
MAX_ERROR: Final = 200
_CHUNK: Final = 64 * 1024

Source = Literal["previous", "current"]


class CleanBlock(msgspec.Struct, kw_only=True):
    """One container's log of one instance, bounded and redacted, gzip-compressed."""

    container: str
    source: Source
    gz: bytes = b""
    """The text, UTF-8, gzip-compressed (empty when only ``error`` is known)."""
    original_size: int | None = None
    """What the agent said the log measured before compression."""
    lines: int | None = None
    truncated: bool = False
    """The agent or kubeward kept only the log's end (or its lines were cut)."""
    error: str | None = None
    """Why the agent had no log (``no_previous_instance``, ``permission_denied``, ...)."""

    def text(self) -> str:
        """The kept log text."""
        return gzip.decompress(self.gz).decode("utf-8", errors="replace") if self.gz else ""


class CleanLogs(msgspec.Struct, kw_only=True):
    """Every kept block of one failure record (the ``pod_failure_logs`` document)."""

    blocks: list[CleanBlock] = []

    @property
    def captured(self) -> bool:
        """Whether any block holds log text (Kure's ``logs_captured``)."""
        return any(b.gz for b in self.blocks)


def inflate_tail(data: str, limit: int = MAX_LOG_BYTES) -> tuple[bytes, bool] | None:
    """The end of a gzip+base64 block, decompressed as a stream: at most ``limit`` bytes,
    from the last :data:`MAX_INFLATE` bytes inflated at most; ``None`` when it is not
    gzip+base64. The flag says whether anything was dropped."""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header
    tail = bytearray()
    total = 0
    dropped = False
    pending = raw
    try:
        while True:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if chunk:
                total += len(chunk)
                tail += chunk
                if len(tail) > limit:
                    del tail[: len(tail) - limit]
                    dropped = True
            if total >= MAX_INFLATE:
                dropped = dropped or bool(pending) or not inflater.eof
                break
            if not chunk and not pending:
                break
    except zlib.error:
        if total == 0:
            return None
        dropped = True
    return bytes(tail), dropped


def _text_of(block: FailureLogBlock) -> tuple[str, bool] | None:
    inflated = inflate_tail(block.data)
    if inflated is None:
        return None
    raw, dropped = inflated
    text = raw.decode("utf-8", errors="replace")
    if dropped:  # the first line was probably cut in the middle
        newline = text.find("\n")
        text = text[newline + 1 :] if 0 <= newline < len(text) - 1 else text
    text, cut = cap_lines(text)
    return text, dropped or cut or bool(block.truncated)


def clean(report: PodFailureReport, redactor: Redactor | None = None) -> CleanLogs | None:
    """The report's ``failure_logs`` decoded, bounded, line-capped and redacted; ``None``
    when the report has none. Blocks that cannot be decoded are left out."""
    logs = report.failure_logs
    if logs is None or not logs.containers:
        return None
    blocks: list[CleanBlock] = []
    for name, entry in logs.containers.items():
        if len(blocks) >= MAX_BLOCKS:
            break
        error = None if entry.error is None else entry.error[:MAX_ERROR]
        found = False
        for source, block in (("previous", entry.previous), ("current", entry.current)):
            if block is None or not block.data:
                continue
            decoded = _text_of(block)
            if decoded is None:
                continue
            if redactor is None:
                redactor = Redactor.for_text(report)
            text = redactor.text(decoded[0])
            blocks.append(
                CleanBlock(
                    container=name[:253],
                    source=source,  # type: ignore[arg-type]
                    gz=gzip.compress(text.encode(), compresslevel=1, mtime=0),
                    original_size=block.original_size,
                    lines=block.lines,
                    truncated=decoded[1],
                )
            )
            found = True
        if not found and error is not None:
            blocks.append(CleanBlock(container=name[:253], source="previous", error=error))
    return CleanLogs(blocks=blocks[:MAX_BLOCKS])


def merge(old: CleanLogs | None, new: CleanLogs) -> CleanLogs:
    """``new``'s blocks replace ``old``'s of the same container and source (as Kure's
    upsert per container and source); ``old``'s logs survive a later error-only report."""
    if old is None:
        return new
    kept = {(b.container, b.source): b for b in old.blocks}
    for block in new.blocks:
        previous = kept.get((block.container, block.source))
        if block.gz or previous is None or not previous.gz:
            kept[(block.container, block.source)] = block
    return CleanLogs(blocks=list(kept.values())[-MAX_BLOCKS:])


def as_failure_logs(logs: CleanLogs) -> FailureLogs:
    """Stored logs in the agent's wire shape (gzip+base64 blocks)."""
    containers: dict[str, FailureLogEntry] = {}
    for block in logs.blocks:
        entry = containers.setdefault(block.container, FailureLogEntry())
        if block.error is not None and entry.error is None:
            entry.error = block.error
        if not block.gz:
            continue
        wire = FailureLogBlock(
            data=base64.b64encode(block.gz).decode("ascii"),
            original_size=block.original_size,
            lines=block.lines,
            truncated=block.truncated,
        )
        if block.source == "previous":
            entry.previous = wire
        else:
            entry.current = wire
    return FailureLogs(containers=containers)


def with_logs(report: PodFailureReport, logs: CleanLogs | None) -> PodFailureReport:
    """``report`` carrying ``logs`` as its ``failure_logs`` (unchanged when ``None``)."""
    if logs is None:
        return report
    return msgspec.structs.replace(report, failure_logs=as_failure_logs(logs))
