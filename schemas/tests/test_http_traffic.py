"""Unit tests: arkyn HTTP-traffic contracts, level derivation, time formats and ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from kubeward.schemas.http_traffic import (
    HttpTraffic,
    HttpTrafficIn,
    RequestIn,
    format_created_at,
    is_id_token,
    iso_created_at,
    level_for,
    sort_key,
    uuid7,
)

BODY = {
    "status": 201,
    "method": "POST",
    "elapsedTime": 150,
    "trafficUserId": "user-456",
    "domainId": "e1f2g3h4-i5j6-7890-1234-567890abcdef",
    "pathnameId": "g1h2i3j4-k5l6-7890-1234-567890abcdef",
    "requestId": "i1j2k3l4-m5n6-7890-1234-567890abcdef",
    "responseId": "j1k2l3m4-n5o6-7890-1234-567890abcdef",
}


@pytest.mark.parametrize(
    ("status", "level"),
    [
        (100, "INFO"),
        (199, "INFO"),
        (200, "INFO"),
        (301, "INFO"),
        (399, "INFO"),
        (400, "WARNING"),
        (404, "WARNING"),
        (499, "WARNING"),
        (500, "FATAL"),
        (599, "FATAL"),
    ],
)
def test_level_follows_the_status_class(status: int, level: str) -> None:
    assert level_for(status) == level


def test_created_at_is_day_month_year_at_time_in_utc() -> None:
    moment = datetime(2025, 11, 6, 15, 27, 1, 999_999, tzinfo=UTC)
    assert format_created_at(moment) == "06/11/2025 at 15:27:01"
    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert format_created_at(plus_two) == "06/11/2025 at 15:27:01"


def test_entity_created_at_and_sort_key_formats() -> None:
    moment = datetime(2025, 7, 10, 14, 0, 0, 123_456, tzinfo=UTC)
    assert iso_created_at(moment) == "2025-07-10T14:00:00.123Z"
    assert sort_key(moment) == "2025-07-10T14:00:00.123456"


def test_the_arkyn_example_body_decodes_with_camel_case_names() -> None:
    record = msgspec.json.decode(msgspec.json.encode(BODY), type=HttpTrafficIn)
    assert record.elapsed_time == 150
    assert record.traffic_user_id == "user-456"
    assert record.response_id == BODY["responseId"]
    no_user = {k: v for k, v in BODY.items() if k != "trafficUserId"}
    assert (
        msgspec.json.decode(msgspec.json.encode(no_user), type=HttpTrafficIn).traffic_user_id
        is None
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": 99}, "status"),
        ({"status": 600}, "status"),
        ({"status": "200"}, "status"),
        ({"elapsedTime": -1}, "elapsedTime"),
        ({"elapsedTime": -0.5}, "elapsedTime"),
        ({"domainId": ""}, "domainId"),
        ({"requestId": None}, "requestId"),
        ({"method": ""}, "method"),
    ],
)
def test_invalid_values_name_their_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"`\\$.{field}`"):
        msgspec.json.decode(msgspec.json.encode(BODY | change), type=HttpTrafficIn)


def test_missing_fields_are_named() -> None:
    body = {k: v for k, v in BODY.items() if k != "pathnameId"}
    with pytest.raises(msgspec.ValidationError, match="pathnameId"):
        msgspec.json.decode(msgspec.json.encode(body), type=HttpTrafficIn)


def test_fractional_elapsed_time_is_kept() -> None:
    record = msgspec.json.decode(
        msgspec.json.encode(BODY | {"elapsedTime": 1.5}), type=HttpTrafficIn
    )
    assert record.elapsed_time == 1.5


def test_stored_record_encodes_exactly_the_reference_fields() -> None:
    record = HttpTraffic(
        id="e1f2g3h4-0dbc-7ee5-a251-d67a4ce4bfe4",
        status=200,
        method="GET",
        level="INFO",
        elapsed_time=456,
        traffic_user_id=None,
        traffic_source_id="0197548f-0e8e-7550-b283-f26fd98a9423",
        domain_id="d",
        pathname_id="p",
        request_id="q",
        response_id="r",
        created_at="06/11/2025 at 15:27:01",
    )
    encoded = msgspec.json.decode(msgspec.json.encode(record))
    assert list(encoded) == [
        "id",
        "status",
        "method",
        "level",
        "elapsedTime",
        "trafficUserId",
        "trafficSourceId",
        "domainId",
        "pathnameId",
        "requestId",
        "responseId",
        "createdAt",
    ]
    assert encoded["trafficUserId"] is None
    assert encoded["elapsedTime"] == 456


def test_request_body_requires_headers_and_query_params() -> None:
    with pytest.raises(msgspec.ValidationError, match="queryParams"):
        msgspec.json.decode(b'{"headers": {}}', type=RequestIn)
    ok = msgspec.json.decode(b'{"headers": {"a": "b"}, "queryParams": {}}', type=RequestIn)
    assert ok.body is None


def test_uuid7_is_time_ordered_and_seedable() -> None:
    first = uuid7(1_700_000_000_000)
    later = uuid7(1_700_000_000_001)
    assert uuid.UUID(first).version == 7
    assert uuid.UUID(first).variant == uuid.RFC_4122
    assert first < later
    assert uuid7(5, b"seq:1") == uuid7(5, b"seq:1")
    assert uuid7(5, b"seq:1") != uuid7(5, b"seq:2")
    assert int(uuid7(1_700_000_000_000).replace("-", "")[:12], 16) == 1_700_000_000_000


@pytest.mark.parametrize(
    ("value", "ok"),
    [("0197548f-0e8e-7550", True), ("src_1", True), ("a.b", False), ("*", False), ("", False)],
)
def test_id_tokens(value: str, ok: bool) -> None:
    assert is_id_token(value) is ok
