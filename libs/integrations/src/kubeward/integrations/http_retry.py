"""Reading ``Retry-After`` for the outbound HTTP clients (LLM providers, webhooks)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date);
    ``None`` when absent or unreadable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
