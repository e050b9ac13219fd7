"""Log text of a report: the agent's gzip+base64 blocks decoded, long lines capped."""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from typing import NamedTuple

LOG_TAIL_CHARS = 64 * 1024
"""Log text examined per source (the tail: a crash's cause is near the end)."""
MAX_DECOMPRESSED = 1024 * 1024
"""A ``failure_logs`` block inflating past this is cut there (the agent caps at 256 KiB)."""
MAX_LINE_CHARS = 4096
"""A longer log line keeps its first characters and a marker: no pattern runs over one
huge line (some would cost a quadratic scan)."""
_LINE_CUT = " …[line truncated]"


def cap_lines(text: str, limit: int = MAX_LINE_CHARS) -> tuple[str, bool]:
    """``text`` with every line longer than ``limit`` characters cut; whether any was."""
    if len(text) <= limit or all(len(line) <= limit for line in text.split("\n")):
        return text, False
    out = [line if len(line) <= limit else line[:limit] + _LINE_CUT for line in text.split("\n")]
    return "\n".join(out), True


class LogSource(NamedTuple):
    """One text of logs: a container's previous or current instance, or the agent's tail."""

    container: str | None
    kind: str
    """``previous``, ``current`` (both from ``failure_logs``) or ``logs`` (the last lines)."""
    text: str

    @property
    def label(self) -> str:
        """Where it came from, for evidence."""
        where = f"container {self.container}" if self.container else "pod"
        return {"previous": f"previous logs of {where}", "current": f"logs of {where}"}.get(
            self.kind, "pod logs (last lines)"
        )


class LogHit(NamedTuple):
    """A log line a pattern matched."""

    source: LogSource
    line: str
    match: re.Match[str]


def decode_block(data: str) -> str | None:
    """A gzip+base64 log block as text (its tail when large); ``None`` when it is invalid."""
    try:
        raw = base64.b64decode(data, validate=False)
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header
        out = inflater.decompress(raw, MAX_DECOMPRESSED)
    except (binascii.Error, ValueError, zlib.error):
        return None
    if not out:
        return None
    text = out.decode("utf-8", errors="replace")
    return text[-LOG_TAIL_CHARS:]


def line_at(text: str, start: int, end: int) -> str:
    """The whole line of ``text`` around ``text[start:end]``, stripped."""
    left = text.rfind("\n", 0, start) + 1
    right = text.find("\n", end)
    return text[left : right if right >= 0 else len(text)].strip()
