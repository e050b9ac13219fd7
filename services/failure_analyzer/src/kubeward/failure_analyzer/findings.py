"""What an offline analyzer concludes, and how a conclusion becomes the Markdown solution.

A :class:`Finding` names its analyzer (a stable id such as ``image-pull.not-found``), the
root cause, the fix steps, the commands that verify the fix, and the evidence it was
drawn from. :func:`render` turns the best finding into the solution the API returns:
Markdown with ``## Root Cause``, ``## Fix``, ``## Verify`` and ``## Evidence``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

EvidenceSource = Literal[
    "reason",
    "message",
    "event",
    "container_status",
    "exit_code",
    "logs",
    "manifest",
    "phase",
    "traffic",
]
"""``traffic``: flows kguardian observed (kept by traffic-store)."""


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """One fact from the report that a finding rests on."""

    source: EvidenceSource
    detail: str
    """What was seen, quoted or summarised (e.g. ``event FailedScheduling: 0/3 nodes ...``)."""


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """An analyzer's conclusion about a failed pod."""

    analyzer: str
    """Stable id, ``area.case`` (e.g. ``crash.missing-config``)."""
    title: str
    """One line, e.g. ``Image not found: ghcr.io/acme/api:v9``."""
    root_cause: str
    """Markdown paragraph(s): what is wrong and why the pod fails."""
    fix: tuple[str, ...]
    """Markdown steps, most likely first."""
    verify: tuple[str, ...]
    """Shell commands (kubectl, ...) that show whether the fix worked."""
    evidence: tuple[Evidence, ...]
    confidence: float = 0.5
    """0..1; the analyzers' relative certainty, used to pick the primary finding."""


class Diagnosis(msgspec.Struct, frozen=True, kw_only=True):
    """Every finding about a report, most confident first (empty when nothing matched)."""

    findings: tuple[Finding, ...] = ()

    @property
    def primary(self) -> Finding | None:
        """The finding the solution is built on."""
        return self.findings[0] if self.findings else None
