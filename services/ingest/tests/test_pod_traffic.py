"""Unit tests: validation and normalisation of kguardian events."""

from __future__ import annotations

import msgspec
import pytest

from kubeward.ingest.pod_traffic import IP_CACHE_SIZE, _ip, _parsed_ip, normalise, parse
from kubeward.ingest.routing import count_records
from kubeward.schemas.traffic import PodTrafficEvent

EVENT = {
    "uuid": "550E8400-E29B-41D4-A716-446655440000",
    "pod_name": "my-app-7d9f6b8c4-x5z2w",
    "pod_namespace": "production",
    "pod_ip": "10.244.1.5",
    "pod_port": "8080",
    "ip_protocol": "tcp",
    "traffic_type": "ingress",
    "traffic_in_out_ip": "10.244.2.10",
    "traffic_in_out_port": "05234",
    "decision": "allow",
    "time_stamp": "2026-05-12T12:32:14.123456+02:00",
}


def event(**changes: object) -> dict[str, object]:
    """The reference event with some fields changed (``None`` removes a field)."""
    out = dict(EVENT) | changes
    return {k: v for k, v in out.items() if v is not None}


def test_normalise_canonicalises_case_ports_uuid_and_time() -> None:
    ev = normalise(msgspec.convert(event(), PodTrafficEvent))
    assert ev.uuid == "550e8400-e29b-41d4-a716-446655440000"
    assert (ev.ip_protocol, ev.traffic_type, ev.decision) == ("TCP", "INGRESS", "ALLOW")
    assert ev.traffic_in_out_port == "5234"
    assert ev.time_stamp == "2026-05-12T10:32:14.123456"


def test_naive_timestamp_without_fraction_gains_microseconds() -> None:
    ev = normalise(msgspec.convert(event(time_stamp="2026-05-12T10:32:14"), PodTrafficEvent))
    assert ev.time_stamp == "2026-05-12T10:32:14.000000"


def test_missing_uuid_is_generated_and_decision_defaults_to_allow() -> None:
    ev = normalise(msgspec.convert(event(uuid=None, decision=None), PodTrafficEvent))
    assert len(ev.uuid) == 36
    assert ev.decision == "ALLOW"


def test_ipv6_is_compressed() -> None:
    ev = normalise(msgspec.convert(event(pod_ip="fd00:0:0:0:0:0:0:1"), PodTrafficEvent))
    assert ev.pod_ip == "fd00::1"


def test_bad_time_names_its_field() -> None:
    # What kguardian's broker refuses too (serde cannot read a NaiveDateTime from it).
    with pytest.raises(ValueError, match=r"^time_stamp: 'yesterday' is not an ISO 8601 time$"):
        normalise(msgspec.convert(event(time_stamp="yesterday"), PodTrafficEvent))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pod_ip", "10.0.0.300"),
        ("traffic_in_out_ip", "peer"),
        ("traffic_in_out_ip", " 10.0.0.1"),  # not trimmed: the broker keeps it as given
        ("traffic_in_out_ip", ""),
        ("pod_port", "70000"),
        ("pod_port", "http"),
        ("traffic_in_out_port", "-1"),
        ("traffic_in_out_port", "\u0663"),  # a digit, but not an ASCII one
        ("traffic_in_out_port", " 80"),
        ("traffic_type", "SIDEWAYS"),
        ("traffic_type", "sideways"),
        ("decision", "MAYBE"),
        ("uuid", "not-a-uuid"),
    ],
)
def test_values_the_broker_stores_as_given_are_kept_as_given(field: str, value: str) -> None:
    # kguardian's broker (broker/src/types.rs: every column but time_stamp is a string;
    # add.rs/ip.rs: only IPs that parse are canonicalised) stores these unchanged.
    ev = normalise(msgspec.convert(event(**{field: value}), PodTrafficEvent))
    assert getattr(ev, field) == value
    assert ev.traffic_in_out_port == ("5234" if field != "traffic_in_out_port" else value)


@pytest.mark.parametrize(
    "value",
    [
        "0.0.0.0",
        "255.255.255.255",
        "10.1.99.250",
        "10.01.1.1",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.4\n",
        " 1.2.3.4",
        "1.2.3.-4",
        "1.2.3.\u0663",
        "::ffff:10.1.1.1",
        "FD00::1",
    ],
)
def test_the_canonical_ipv4_shortcut_agrees_with_parsing(value: str) -> None:
    assert _ip(value) == _parsed_ip.__wrapped__(value)


def test_ip_cache_holds_only_addresses_that_are_not_canonical_ipv4() -> None:
    # Its memory is bounded by IP_CACHE_SIZE entries, and the pod and peer addresses of
    # kguardian's events (canonical IPv4) never enter it, however many flows there are.
    _parsed_ip.cache_clear()
    for n in range(10_000):
        assert _ip(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}") == (
            f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        )
    assert _parsed_ip.cache_info().currsize == 0
    for n in range(IP_CACHE_SIZE + 100):
        assert _ip(f"fd00:0::{n + 1:x}") == f"fd00::{n + 1:x}"
    assert _parsed_ip.cache_info().currsize == IP_CACHE_SIZE


def test_parse_single_object() -> None:
    events, rejects = parse(msgspec.json.encode(event()))
    assert [e.pod_name for e in events] == ["my-app-7d9f6b8c4-x5z2w"]
    assert rejects == []


def test_parse_array_keeps_good_records_and_reports_each_bad_one() -> None:
    bad_type = event(pod_port=8080)
    bad_time = event(time_stamp="soon")
    missing = event(time_stamp=None)
    as_given = event(pod_ip="nope", pod_port="http")
    data = msgspec.json.encode(
        [event(), bad_type, bad_time, event(pod_port="81"), missing, as_given]
    )
    events, rejects = parse(data)
    assert [(e.pod_ip, e.pod_port) for e in events] == [
        ("10.244.1.5", "8080"),
        ("10.244.1.5", "81"),
        ("nope", "http"),
    ]
    assert [r.index for r in rejects] == [1, 2, 4]
    assert "got `int`" in rejects[0].reason and "pod_port" in rejects[0].reason
    assert rejects[1].reason == "[2] time_stamp: 'soon' is not an ISO 8601 time"
    assert "missing required field `time_stamp`" in rejects[2].reason
    # The dead letter carries the record's original bytes.
    assert msgspec.json.decode(rejects[1].data) == bad_time


def test_parse_array_of_good_records_with_a_bad_value_in_fast_path() -> None:
    events, rejects = parse(msgspec.json.encode([event(), event(time_stamp="nah")]))
    assert len(events) == 1
    assert rejects[0].index == 1 and "time_stamp" in rejects[0].reason


def test_parse_rejects_malformed_json_as_a_whole() -> None:
    with pytest.raises(ValueError, match="malformed JSON"):
        parse(b'[{"pod_name": ')


def test_single_invalid_object_is_one_reject_without_index() -> None:
    events, rejects = parse(b'{"pod_name": "x"}')
    assert events == []
    assert rejects[0].index is None and "missing required field" in rejects[0].reason


def test_count_records() -> None:
    assert count_records(msgspec.json.encode([event()] * 3)) == 3
    assert count_records(msgspec.json.encode(event())) == 1


def test_unknown_protocols_are_kept_as_given_and_known_ones_upper_cased() -> None:
    # kguardian's controller (controller/src/network.rs, proto_to_string) sends
    # "UNKNOWN(<n>)" for protocols it has no name for, e.g. SCTP drops; its broker stores it.
    unknown = normalise(msgspec.convert(event(ip_protocol="UNKNOWN(132)"), PodTrafficEvent))
    assert unknown.ip_protocol == "UNKNOWN(132)"
    icmp6 = normalise(msgspec.convert(event(ip_protocol="ICMPv6"), PodTrafficEvent))
    assert icmp6.ip_protocol == "ICMPV6"


def test_null_namespace_and_null_decision_are_accepted() -> None:
    events, rejects = parse(msgspec.json.encode([event(), {**event(), "pod_namespace": None}]))
    assert rejects == []
    assert [e.pod_namespace for e in events] == ["production", None]
    nulled = parse(msgspec.json.encode({**event(), "decision": None}))[0][0]
    assert nulled.decision == "ALLOW"
