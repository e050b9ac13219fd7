"""kguardian pod traffic in ingest: validation, normalisation and routing."""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib
from functools import lru_cache

import msgspec
from nats.aio.msg import Msg

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, origin_us
from kubeward.schemas import bus
from kubeward.schemas.traffic import (
    DECISIONS,
    PROTOCOLS,
    TRAFFIC_TYPES,
    PodTrafficBatch,
    PodTrafficEvent,
    PodTrafficGroup,
    known_or_given,
    normalise_timestamp,
)

_one = msgspec.json.Decoder(PodTrafficEvent)
_list = msgspec.json.Decoder(list[PodTrafficEvent])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])


# As kguardian's broker (broker/src/ip.rs, canonical_ip), a value that does not parse is kept
# exactly as given, surrounding spaces included: the broker stores it, so kubeward stores it.
_CANONICAL_V4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
IP_CACHE_SIZE = 4096
"""Entries of the cache of IPs that are not canonical IPv4 (IPv6, leading zeros, text).
Canonical IPv4, nearly every address kguardian reports, skips it: a cache of every pod and
peer address grew with the flows (two 65 536-entry caches, ~15 MB in a 10-minute soak)
and saved ~1 µs a lookup over the check."""


def _port(value: str) -> str:
    """A port number without leading zeros; anything else as given. (Not cached: as cheap
    as a cache hit.)"""
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        if len(digits) <= 5 and int(digits) <= 65535:
            return digits
    return value


def _ip(value: str) -> str:
    """An IP in canonical form (IPv6 compressed, lower case); anything else as given."""
    if _CANONICAL_V4.fullmatch(value):
        return value
    return _parsed_ip(value)


@lru_cache(maxsize=IP_CACHE_SIZE)
def _parsed_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _uuid(value: str) -> str:
    """A UUID lower-cased; any other string (the broker's ``uuid`` is text) as given."""
    lowered = value.lower()
    if (
        len(lowered) == 36
        and lowered[8] == lowered[13] == lowered[18] == lowered[23] == "-"
        and not lowered.replace("-", "").strip("0123456789abcdef")
    ):
        return lowered
    return value


def normalise(event: PodTrafficEvent) -> PodTrafficEvent:
    """The event in canonical form: values that parse normalised, other strings as given.

    Raises ``ValueError`` naming the field only for what kguardian's broker refuses too:
    a ``time_stamp`` that is not a time (the schema already refused wrong JSON types and
    missing fields).
    """
    event.uuid = _uuid(event.uuid) if event.uuid else str(uuidlib.uuid4())
    event.pod_ip = _ip(event.pod_ip)
    event.traffic_in_out_ip = _ip(event.traffic_in_out_ip)
    event.pod_port = _port(event.pod_port)
    event.traffic_in_out_port = _port(event.traffic_in_out_port)
    # Known protocols upper-cased; anything else (``UNKNOWN(132)``) kept as given.
    event.ip_protocol = known_or_given(event.ip_protocol, PROTOCOLS)
    event.traffic_type = known_or_given(event.traffic_type, TRAFFIC_TYPES)
    event.decision = known_or_given(event.decision or "ALLOW", DECISIONS)
    try:
        event.time_stamp = normalise_timestamp(event.time_stamp)
    except ValueError:
        raise ValueError(f"time_stamp: {event.time_stamp!r} is not an ISO 8601 time") from None
    return event


def _one_event(data: bytes | msgspec.Raw) -> PodTrafficEvent:
    try:
        return normalise(_one.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$.", "`")) from None


def parse(data: bytes) -> tuple[list[PodTrafficEvent], list[Reject]]:
    """Split one collect message (an event or an array of events) into good and bad records.

    Raises ``ValueError`` when the message is not JSON at all.
    """
    is_array = data.lstrip()[:1] == b"["
    if not is_array:
        try:
            return [_one_event(data)], []
        except msgspec.DecodeError as exc:
            raise ValueError(f"malformed JSON: {exc}") from None
        except ValueError as exc:
            return [], [Reject(None, str(exc), data)]
    events: list[PodTrafficEvent] = []
    rejects: list[Reject] = []
    try:
        decoded = _list.decode(data)
    except msgspec.ValidationError:
        pass  # some record is off: find which, record by record, below
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    else:
        for index, event in enumerate(decoded):
            try:
                events.append(normalise(event))
            except ValueError as exc:
                rejects.append(Reject(index, f"[{index}] {exc}", msgspec.json.encode(event)))
        return events, rejects
    raws = _raw_list.decode(data)
    for index, raw in enumerate(raws):
        try:
            events.append(_one_event(raw))
        except ValueError as exc:
            rejects.append(Reject(index, f"[{index}] {exc}", bytes(raw)))
    return events, rejects


class PodTrafficRouter(CollectRouter[PodTrafficEvent, PodTrafficGroup]):
    """Batch handler for ``kubeward.collect.pod-traffic``."""

    kind = "pod-traffic"
    label = "pod traffic"
    subject = bus.TRAFFIC_POD
    payload = PodTrafficEvent

    def parse(self, msg: Msg) -> tuple[list[PodTrafficEvent], list[Reject]]:
        """See :func:`parse`."""
        return parse(msg.data)

    def group(
        self, msg: Msg, reply_to: str | None, records: list[PodTrafficEvent]
    ) -> PodTrafficGroup:
        """Events keep their collect message's sequence and time: traffic-store credits
        replies by them and applies each collect message once, whichever internal message
        carries it."""
        return PodTrafficGroup(
            origin_seq=stream_seq(msg),
            reply_to=reply_to,
            events=records,
            origin_us=origin_us(msg),
        )

    def batch(self, groups: list[PodTrafficGroup]) -> PodTrafficBatch:
        """One ``kubeward.traffic.pod`` message."""
        return PodTrafficBatch(groups=groups)

    def origin_seq(self, group: PodTrafficGroup) -> int:
        """The group's collect sequence."""
        return group.origin_seq
