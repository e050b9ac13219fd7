"""kguardian pod-traffic contracts: the wire event, internal batches, queries and rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "ICMP", "ICMPV6"})
"""Protocols kubeward spells canonically (upper case). Any other ``ip_protocol`` string
(the kguardian controller sends ``UNKNOWN(132)`` for SCTP drops) is stored as given, as
kguardian's broker does."""
TRAFFIC_TYPES = frozenset({"INGRESS", "EGRESS"})
DECISIONS = frozenset({"ALLOW", "DROP"})

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
"""How ``time_stamp`` is stored and returned: naive UTC with microseconds, sortable as text."""


def normalise_timestamp(value: str) -> str:
    """ISO 8601 in, :data:`TIMESTAMP_FORMAT` out; offsets are converted to UTC.

    Raises ``ValueError`` when ``value`` is not ISO 8601.
    """
    parsed = datetime.fromisoformat(value)
    if len(value) == 26 and value[10] == "T" and value[19] == ".":
        return value  # already canonical; parsing it was the check
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime(TIMESTAMP_FORMAT)


NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
Port = Annotated[str, msgspec.Meta(min_length=1, max_length=5)]


class PodTrafficEvent(msgspec.Struct, kw_only=True):
    """One observed traffic event, exactly the kguardian JSON shape.

    Field checks that msgspec cannot express (IP syntax, port range, enum casing,
    timestamp format) are applied by ingest before the event enters the pipeline.
    """

    uuid: str = ""
    pod_name: NonEmpty
    pod_namespace: NonEmpty | None
    """``null`` when the controller could not tell (kguardian stores it as NULL)."""
    pod_ip: NonEmpty
    pod_port: Port
    ip_protocol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    traffic_type: NonEmpty
    traffic_in_out_ip: NonEmpty
    traffic_in_out_port: Port
    decision: str | None = "ALLOW"
    """``null`` or absent is ``ALLOW`` (normalised by ingest)."""
    time_stamp: NonEmpty


class PodTrafficFlow(PodTrafficEvent, kw_only=True):
    """A stored row with the per-flow statistics kubeward keeps beside it."""

    first_seen: str
    last_seen: str
    hits: int


class PodTrafficGroup(msgspec.Struct, array_like=True):
    """Valid events from one collect message, in publish order."""

    origin_seq: int
    """Stream sequence of the originating ``COLLECT`` message."""
    reply_to: str | None
    events: list[PodTrafficEvent]


class PodTrafficBatch(msgspec.Struct, array_like=True):
    """What ingest publishes on ``kubeward.traffic.pod`` (msgpack)."""

    groups: list[PodTrafficGroup]


class PodTrafficQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Filters and page for ``GET /pod/traffic``; newest first."""

    pod_name: str | None = None
    namespace: str | None = None
    traffic_type: str | None = None
    decision: str | None = None
    since: str | None = None
    """Inclusive lower bound on ``time_stamp`` (normalised ISO string)."""
    until: str | None = None
    """Exclusive upper bound on ``time_stamp``."""
    limit: int = 5000
    cursor: str | None = None
    """Opaque cursor from the previous page's reply."""
    with_stats: bool = False
