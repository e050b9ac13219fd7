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
"""``traffic_type`` and ``decision`` values kubeward spells canonically (upper case); any
other string is stored as given, as kguardian's broker stores it."""


def known_or_given(value: str, known: frozenset[str]) -> str:
    """``value`` upper-cased when that is one of ``known``, else exactly as given.

    How ingest stores ``ip_protocol``, ``traffic_type`` and ``decision``, and how the
    gateway reads the listing filters on them, so a filter finds what was stored.
    """
    upper = value.upper()
    return upper if upper in known else value


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
Text = Annotated[str, msgspec.Meta(max_length=253)]
"""A column kguardian's broker stores as given (``VARCHAR``): any string, empty included."""


class PodTrafficEvent(msgspec.Struct, kw_only=True):
    """One observed traffic event, exactly the kguardian JSON shape.

    Ingest normalises the values that parse (IPs, ports, the known enum spellings,
    ``uuid``, ``time_stamp``) before the event enters the pipeline and keeps any other
    string exactly as given: kguardian's broker stores every column but ``time_stamp`` as
    text, so a port ``"http"`` or a peer ``"unknown"`` is stored, never refused.
    """

    uuid: Text = ""
    """Generated when empty or absent; lower-cased when it is a UUID."""
    pod_name: NonEmpty
    pod_namespace: NonEmpty | None
    """``null`` when the controller could not tell (kguardian stores it as NULL)."""
    pod_ip: Text
    pod_port: Text
    ip_protocol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    traffic_type: Text
    traffic_in_out_ip: Text
    traffic_in_out_port: Text
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
    origin_us: int = 0
    """Stream timestamp of the ``COLLECT`` message (Unix microseconds; 0 from an ingest
    older than this field): with ``origin_seq``, names the message even across a
    ``COLLECT`` stream that was deleted and created again."""


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
