"""Short text forms for findings: a clipped evidence line, a human age."""

from __future__ import annotations

EVIDENCE_CHARS = 200


def human_age(seconds: float) -> str:
    """``47 min``, ``5 h``, ``12 d``."""
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"


def clip(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """One line of at most ``limit`` characters, for evidence and titles."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
