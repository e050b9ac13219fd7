"""Validation and normalisation of kguardian pod-traffic events."""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
from functools import lru_cache

import msgspec

from kubeward.schemas.traffic import (
    DECISIONS,
    PROTOCOLS,
    TRAFFIC_TYPES,
    PodTrafficEvent,
    normalise_timestamp,
)

_one = msgspec.json.Decoder(PodTrafficEvent)
_list = msgspec.json.Decoder(list[PodTrafficEvent])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])


class Reject(msgspec.Struct, frozen=True):
    """A record that could not be accepted, with the reason and its original bytes."""

    index: int | None
    reason: str
    data: bytes


# Pod IPs and ports repeat across events, so their checks are cached.
@lru_cache(maxsize=65_536)
def _port(field: str, value: str) -> str:
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"{field}: {value!r} is not a port number (0-65535)")
    return str(int(value))


@lru_cache(maxsize=65_536)
def _ip(field: str, value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not an IP address") from None


def _uuid(value: str) -> str:
    lowered = value.lower()
    if (
        len(lowered) == 36
        and lowered[8] == lowered[13] == lowered[18] == lowered[23] == "-"
        and not lowered.replace("-", "").strip("0123456789abcdef")
    ):
        return lowered
    raise ValueError(f"uuid: {value!r} is not a UUID")


def _member(field: str, value: str, allowed: frozenset[str]) -> str:
    upper = value.upper()
    if upper not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return upper


def normalise(event: PodTrafficEvent) -> PodTrafficEvent:
    """Check what the schema cannot express and return the event in canonical form.

    Raises ``ValueError`` naming the offending field.
    """
    if event.uuid:
        event.uuid = _uuid(event.uuid)
    else:
        event.uuid = str(uuidlib.uuid4())
    event.pod_ip = _ip("pod_ip", event.pod_ip)
    event.traffic_in_out_ip = _ip("traffic_in_out_ip", event.traffic_in_out_ip)
    event.pod_port = _port("pod_port", event.pod_port)
    event.traffic_in_out_port = _port("traffic_in_out_port", event.traffic_in_out_port)
    event.ip_protocol = _member("ip_protocol", event.ip_protocol, PROTOCOLS)
    event.traffic_type = _member("traffic_type", event.traffic_type, TRAFFIC_TYPES)
    event.decision = _member("decision", event.decision, DECISIONS)
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


def count_records(data: bytes) -> int:
    """Records in a message without validating them (for the per-message limit)."""
    if data.lstrip()[:1] != b"[":
        return 1
    try:
        return len(_raw_list.decode(data))
    except msgspec.DecodeError:
        return 1
