"""Integration tests: ingest against a real nats-server with JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import stored_messages as drain
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply
from kubeward.schemas.traffic import PodTrafficBatch

GOOD = {
    "uuid": "550e8400-e29b-41d4-a716-446655440000",
    "pod_name": "web",
    "pod_namespace": "prod",
    "pod_ip": "10.244.1.5",
    "pod_port": "8080",
    "ip_protocol": "TCP",
    "traffic_type": "INGRESS",
    "traffic_in_out_ip": "10.244.2.10",
    "traffic_in_out_port": "52341",
    "decision": "ALLOW",
    "time_stamp": "2026-05-12T10:32:14.123456",
}
BAD = GOOD | {"time_stamp": "not-a-time"}
"""Refused by kguardian's broker too: serde cannot read a ``NaiveDateTime`` from it."""


@pytest.fixture
async def service(nats_url: str) -> AsyncIterator[ServiceContext]:
    """Ingest running in-process with a small per-message limit."""
    settings = Settings(nats_url=nats_url, max_records_per_message=50)
    async with serving("ingest", settings, ingest) as ctx:
        yield ctx


async def forwarded(nc: NATS) -> list[PodTrafficBatch]:
    """Batches ingest published for traffic-store."""
    msgs = await drain(nc, bus.TRAFFIC_POD, bus.TRAFFIC.name)
    return [msgspec.msgpack.decode(m.data, type=PodTrafficBatch) for m in msgs]


def events_of(batches: list[PodTrafficBatch]) -> list[str]:
    """``pod_port`` of every forwarded event, in order."""
    return [e.pod_port for b in batches for g in b.groups for e in g.events]


async def test_valid_events_are_forwarded_with_their_origin(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    ack1 = await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD))
    ack2 = await js.publish(
        bus.COLLECT_POD_TRAFFIC, msgspec.json.encode([GOOD | {"pod_port": "81"}, GOOD])
    )
    batches = await eventually(
        lambda: forwarded(nc), lambda b: len(events_of(b)) == 3, what="3 forwarded events"
    )
    assert events_of(batches) == ["8080", "81", "8080"]
    assert [g.origin_seq for b in batches for g in b.groups] == [ack1.seq, ack2.seq]
    assert all(g.reply_to is None for b in batches for g in b.groups)


async def test_bad_record_is_dead_lettered_and_the_rest_goes_on(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    raw_bad = msgspec.json.encode(BAD)
    await js.publish(
        bus.COLLECT_POD_TRAFFIC,
        b"[" + msgspec.json.encode(GOOD) + b"," + raw_bad + b"]",
    )
    dead = await eventually(
        lambda: drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name),
        lambda d: len(d) == 1,
        what="one dead letter",
    )
    headers = dead[0].headers or {}
    assert headers[bus.HDR_REASON] == "[1] time_stamp: 'not-a-time' is not an ISO 8601 time"
    assert headers[bus.HDR_ORIGIN_SUBJECT] == bus.COLLECT_POD_TRAFFIC
    assert msgspec.json.decode(dead[0].data) == BAD
    batches = await eventually(lambda: forwarded(nc), lambda b: len(events_of(b)) == 1)
    assert events_of(batches) == ["8080"]


async def test_malformed_and_oversized_messages_are_dead_lettered_whole(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    await js.publish(bus.COLLECT_POD_TRAFFIC, b'{"pod_name": ')
    await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode([GOOD] * 51))
    dead = await eventually(
        lambda: drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name),
        lambda d: len(d) == 2,
    )
    reasons = sorted((m.headers or {})[bus.HDR_REASON] for m in dead)
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "message holds 51 records; the limit is 50"
    assert dead[0].data == b'{"pod_name": ' or dead[1].data == b'{"pod_name": '
    assert await forwarded(nc) == []


async def test_http_originated_invalid_batch_is_answered_not_dead_lettered(
    service: ServiceContext, nc: NATS
) -> None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.jetstream().publish(
        bus.COLLECT_POD_TRAFFIC,
        msgspec.json.encode([GOOD, BAD, GOOD | {"pod_port": 8080}]),
        headers={bus.HDR_REPLY_TO: inbox},
    )
    reply = msgspec.json.decode((await sub.next_msg(timeout=10)).data, type=Reply)
    assert reply.status == 400
    assert reply.detail == (
        "Invalid pod traffic: [1] time_stamp: 'not-a-time' is not an ISO 8601 time; "
        "[2] Expected `str`, got `int` - at `pod_port`"
    )
    assert await forwarded(nc) == []
    assert await drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name) == []


async def test_retried_publish_with_the_same_msg_id_is_a_no_op(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    first = await js.publish(
        bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD), headers={bus.HDR_MSG_ID: "m-1"}
    )
    again = await js.publish(
        bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD), headers={bus.HDR_MSG_ID: "m-1"}
    )
    assert again.duplicate and again.seq == first.seq
    await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD | {"pod_port": "1"}))
    batches = await eventually(lambda: forwarded(nc), lambda b: len(events_of(b)) == 2)
    assert events_of(batches) == ["8080", "1"]


async def test_metrics_are_served_over_the_bus(service: ServiceContext, nc: NATS) -> None:
    await nc.jetstream().publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode([GOOD, BAD]))
    await eventually(lambda: forwarded(nc), lambda b: len(events_of(b)) == 1)
    text = (await nc.request(bus.RPC_INGEST_METRICS, b"", timeout=5)).data.decode()
    assert 'kubeward_ingest_records_total{kind="pod-traffic",outcome="accepted"}' in text
    assert 'kubeward_ingest_deadletters_total{kind="pod-traffic"}' in text


async def test_deeply_nested_json_is_rejected_not_retried(
    service: ServiceContext, nc: NATS
) -> None:
    js = nc.jetstream()
    await js.publish(bus.COLLECT_POD_TRAFFIC, b"[" * 100_000 + b"]" * 100_000)
    await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD))
    dead = await eventually(
        lambda: drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name),
        lambda d: len(d) == 1,
    )
    assert (dead[0].headers or {})[bus.HDR_REASON] == "malformed JSON: nested too deeply"
    # The consumer is not stalled: the next message goes through.
    batches = await eventually(lambda: forwarded(nc), lambda b: len(events_of(b)) == 1)
    assert events_of(batches) == ["8080"]


async def test_identical_bad_records_are_separate_dead_letters(
    service: ServiceContext, nc: NATS
) -> None:
    """``[1, 1]``: two bad records with the same bytes are two dead letters, one per index."""
    js = nc.jetstream()
    await js.publish(bus.COLLECT_POD_TRAFFIC, b"[1,1]")
    dead = await eventually(
        lambda: drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name),
        lambda d: len(d) >= 2,
        what="two dead letters",
    )
    reasons = sorted((m.headers or {})[bus.HDR_REASON] for m in dead)
    assert [r[:3] for r in reasons] == ["[0]", "[1]"]
    assert [m.data for m in dead] == [b"1", b"1"]


async def test_malformed_message_near_max_payload_leaves_ingest_consuming(
    service: ServiceContext, nc: NATS
) -> None:
    """Its dead letter would exceed the server's limit with headers: it is cut to fit, and
    the valid message behind it is still forwarded."""
    js = nc.jetstream()
    await js.publish(bus.COLLECT_POD_TRAFFIC, b"[" + b" " * (nc.max_payload - 200))
    await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(GOOD))
    batches = await eventually(lambda: forwarded(nc), lambda b: len(events_of(b)) == 1)
    assert events_of(batches) == ["8080"]
    (dead,) = await drain(nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name)
    assert (dead.headers or {})[bus.HDR_TRUNCATED] == str(nc.max_payload - 199)
    assert service.nc.is_connected
