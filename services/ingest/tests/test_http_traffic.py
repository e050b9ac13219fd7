"""arkyn HTTP traffic in ingest: validation units, then routing against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import stored_messages as drain
from kubeward.ingest.app import ingest
from kubeward.ingest.http_traffic import parse, source_id
from kubeward.ingest.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.http_traffic import HttpTrafficBatch
from kubeward.schemas.replies import Reply

SOURCE = "0197548f-0e8e-7550-b283-f26fd98a9423"
SUBJECT = bus.COLLECT_HTTP_TRAFFIC_PREFIX + SOURCE
GOOD: dict[str, Any] = {
    "status": 201,
    "method": "post",
    "elapsedTime": 150,
    "trafficUserId": None,
    "domainId": "d-1",
    "pathnameId": "p-1",
    "requestId": "q-1",
    "responseId": "r-1",
}


def test_a_valid_body_is_normalised() -> None:
    records, rejects = parse(msgspec.json.encode(GOOD))
    assert rejects == []
    assert records[0].method == "POST"
    assert records[0].elapsed_time == 150


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": 42}, "Expected `int` >= 100 - at `status`"),
        ({"method": "FETCH"}, "method: 'FETCH' is not one of"),
        ({"elapsedTime": -3}, "at `elapsedTime`"),
        ({"domainId": 7}, "Expected `str`, got `int` - at `domainId`"),
    ],
)
def test_invalid_bodies_are_rejected_naming_the_field(change: dict[str, Any], reason: str) -> None:
    records, rejects = parse(msgspec.json.encode(GOOD | change))
    assert records == []
    assert rejects[0].index is None
    assert reason in rejects[0].reason


def test_a_missing_field_is_named() -> None:
    body = {k: v for k, v in GOOD.items() if k != "responseId"}
    _, rejects = parse(msgspec.json.encode(body))
    assert "missing required field `responseId`" in rejects[0].reason


def test_arrays_split_good_from_bad_by_index() -> None:
    data = msgspec.json.encode([GOOD, GOOD | {"status": 700}, 5, GOOD | {"method": "get"}])
    records, rejects = parse(data)
    assert [r.method for r in records] == ["POST", "GET"]
    assert [r.index for r in rejects] == [1, 2]
    assert rejects[0].reason.startswith("[1] ")
    assert rejects[1].data == b"5"


def test_malformed_json_is_an_error_for_the_whole_message() -> None:
    with pytest.raises(ValueError, match="malformed JSON"):
        parse(b'{"status": ')


def test_the_source_id_is_the_last_subject_token() -> None:
    assert source_id(SUBJECT) == SOURCE
    with pytest.raises(ValueError, match="trafficSourceId"):
        source_id(bus.COLLECT_HTTP_TRAFFIC_PREFIX + "a b")
    with pytest.raises(ValueError, match="trafficSourceId"):
        source_id(bus.COLLECT_POD_TRAFFIC)


# --- Routing against nats-server -------------------------------------------------------


@pytest.fixture
async def service(nats_url: str) -> AsyncIterator[ServiceContext]:
    """Ingest running in-process."""
    async with serving("ingest", Settings(nats_url=nats_url), ingest) as ctx:
        yield ctx


async def forwarded(nc: NATS) -> list[HttpTrafficBatch]:
    """Batches ingest published for traffic-store."""
    msgs = await drain(nc, bus.TRAFFIC_HTTP, bus.TRAFFIC.name)
    return [msgspec.msgpack.decode(m.data, type=HttpTrafficBatch) for m in msgs]


async def test_valid_records_are_forwarded_with_origin_and_source(
    service: ServiceContext, nc: NATS
) -> None:
    ack = await nc.jetstream().publish(SUBJECT, msgspec.json.encode(GOOD))
    batches = await eventually(lambda: forwarded(nc), bool, what="a forwarded batch")
    group = batches[0].groups[0]
    assert group.origin_seq == ack.seq
    assert group.traffic_source_id == SOURCE
    assert group.reply_to is None
    assert group.origin_us > 1_600_000_000_000_000
    assert [r.method for r in group.records] == ["POST"]


async def test_http_input_that_is_invalid_gets_a_400_naming_the_field(
    service: ServiceContext, nc: NATS
) -> None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.jetstream().publish(
        SUBJECT, msgspec.json.encode(GOOD | {"status": 99}), headers={bus.HDR_REPLY_TO: inbox}
    )
    reply = msgspec.json.decode((await sub.next_msg(timeout=10)).data, type=Reply)
    assert reply.status == 400
    assert reply.detail is not None
    assert "`status`" in reply.detail
    assert await forwarded(nc) == []
    assert await drain(nc, bus.deadletter_subject("ingest"), bus.DEADLETTER.name) == []


async def test_http_input_that_is_valid_carries_its_reply_subject(
    service: ServiceContext, nc: NATS
) -> None:
    await nc.jetstream().publish(
        SUBJECT, msgspec.json.encode(GOOD), headers={bus.HDR_REPLY_TO: "_INBOX.caller.1"}
    )
    batches = await eventually(lambda: forwarded(nc), bool, what="a forwarded batch")
    assert batches[0].groups[0].reply_to == "_INBOX.caller.1"


async def test_bus_input_that_is_invalid_is_dead_lettered_with_the_reason(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    bad = msgspec.json.encode(GOOD | {"method": "BREW"})
    ack = await js.publish(SUBJECT, bad)
    await js.publish(bus.COLLECT_HTTP_TRAFFIC_PREFIX + "not%ok", msgspec.json.encode(GOOD))
    dead = await eventually(
        lambda: drain(nc, bus.deadletter_subject("ingest"), bus.DEADLETTER.name),
        lambda msgs: len(msgs) == 2,
        what="two dead letters",
    )
    headers = [m.headers or {} for m in dead]
    assert dead[0].data == bad
    assert headers[0][bus.HDR_ORIGIN_SEQ] == str(ack.seq)
    assert "method: 'BREW'" in headers[0][bus.HDR_REASON]
    assert "trafficSourceId" in headers[1][bus.HDR_REASON]
    assert await forwarded(nc) == []
