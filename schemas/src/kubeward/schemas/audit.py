"""One admin change on the ``AUDIT`` stream (``kubeward.audit.<area>``, JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who (``actor``) did what (``action`` on ``key``), when (``at``, UTC).

    ``details`` never holds a secret in clear: publishers pass masked values.
    """

    actor: str
    action: str
    """``set``, ``delete``, ``add`` or ``remove`` for settings; free-form elsewhere."""
    key: str
    at: datetime
    details: dict[str, Any] = {}
    seq: int = 0
    """The record's stream sequence; filled in by ``kubeward.core.audit.read_audit``, never
    published."""
