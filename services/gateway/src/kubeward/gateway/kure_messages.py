"""How ``FEED`` events become the Kure backend's WebSocket messages (served at ``/ws``).

Kure's backend (``backend/services/websocket.py``) sends ``{"type": ..., "data": ...}``
text frames. Most of our feed types are Kure's already; the table below renames the rest
and names the two whose ``data`` Kure sends as the whole failure record (the dashboard
replaces its row with it) while our feed carries only the changed fields. Types that are
ours alone (``pod_traffic``, ``pod_impact``) are not sent; any other type passes through
unchanged, so a feed event named as Kure names it reaches Kure's clients as it is.
"""

from __future__ import annotations

from typing import NamedTuple


class KureType(NamedTuple):
    """What one feed type becomes on ``/ws``."""

    name: str
    """Kure's message type."""
    full_record: bool = False
    """Kure's ``data`` is the whole failure record (``PodFailureResponse``)."""


TRANSLATION: dict[str, KureType] = {
    "pod_failure": KureType("pod_failure"),
    "pod_deleted": KureType("pod_deleted"),
    "solution_updated": KureType("pod_solution_updated", full_record=True),
    "pod_status_change": KureType("pod_status_change", full_record=True),
    "security_finding": KureType("security_finding"),
    "namespace_exclusion": KureType("namespace_exclusion_change"),
    "pod_exclusion": KureType("pod_exclusion_change"),
    "trusted_registry_change": KureType("trusted_registry_change"),
    "security_rescan_status": KureType("security_rescan_status"),
    "security_rescan_request": KureType("security_rescan_request"),
    "mirror_created": KureType("mirror_created"),
    "mirror_deleted": KureType("mirror_deleted"),
    "mirror_status": KureType("mirror_status_change"),
}
"""Feed type -> Kure message (see the README, "Kure Monitor clients: feed and accounts")."""

NOT_SENT = frozenset({"pod_traffic", "pod_impact"})
"""Feed types Kure has no message for (kguardian traffic: high volume, no Kure reader;
a failure's callers: kubeward's own)."""

RECORD_KEY = "failure_reason"
"""A ``data`` with this key already is a whole failure record (nothing to look up)."""


def kure_type(feed_type: str) -> KureType | None:
    """The Kure message for a feed type; ``None`` when it is not sent on ``/ws``."""
    if feed_type in NOT_SENT:
        return None
    return TRANSLATION.get(feed_type) or KureType(feed_type)
