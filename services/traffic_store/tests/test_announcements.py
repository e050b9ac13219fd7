"""Every new flow is announced on the feed once, even when traffic-store dies between
writing a batch and announcing it (issue 13, item 7).

The crash is reproduced exactly: the first delivery of a batch is written to MongoDB and
neither announced nor acked (what a ``kill -9`` at that moment leaves); the server then
redelivers it to the real handler.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo import AsyncMongoClient

from kubeward.core.bus import ensure_streams, stream_seq
from kubeward.core.mongo import Document
from kubeward.devstack.testing import stored_messages
from kubeward.schemas import bus
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.app import PodTrafficWriter
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore


def event(port: int) -> PodTrafficEvent:
    """A flow of its own per ``port``."""
    return PodTrafficEvent(
        uuid=f"00000000-0000-4000-8000-{port:012d}",
        pod_name="web",
        pod_namespace="prod",
        pod_ip="10.0.0.1",
        pod_port=str(port),
        ip_protocol="TCP",
        traffic_type="INGRESS",
        traffic_in_out_ip="10.0.0.2",
        traffic_in_out_port="443",
        decision="ALLOW",
        time_stamp="2026-05-12T10:00:00.000000",
    )


async def announced(nc: NATS) -> list[int]:
    """``pod_port`` of every ``pod_traffic`` event in ``FEED``."""
    msgs = await stored_messages(nc, bus.feed_subject("pod_traffic"), bus.FEED.name)
    return sorted(int(msgspec.json.decode(m.data)["data"]["pod_port"]) for m in msgs)


async def test_a_batch_written_but_not_announced_is_announced_on_redelivery(
    nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    store = PodTrafficStore(mongo[mongo_db_name][COLLECTION], 32768)
    await store.ensure_indexes()
    writer = PodTrafficWriter(nc, store, js)
    batch = PodTrafficBatch(groups=[PodTrafficGroup(1, None, [event(p) for p in (80, 81, 82)])])
    await js.publish(bus.TRAFFIC_POD, msgspec.msgpack.encode(batch))
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0, max_deliver=5)
    sub = await js.pull_subscribe(bus.TRAFFIC_POD, durable="crashy", config=config)

    (first,) = await sub.fetch(1, timeout=5)
    assert first.metadata.num_delivered == 1
    decoded = msgspec.msgpack.decode(first.data, type=PodTrafficBatch)
    created = (await store.write([(stream_seq(first), decoded)])).created
    assert len(created) == 3  # stored; then the process dies: no announcement, no ack
    assert await announced(nc) == []

    (again,) = await sub.fetch(1, timeout=10)  # redelivered after ack_wait
    assert again.metadata.num_delivered == 2
    await writer([again])
    assert await announced(nc) == [80, 81, 82]

    # A redelivery after the announcement went out (lost ack) announces nothing twice.
    (third,) = await sub.fetch(1, timeout=10)
    assert third.metadata.num_delivered == 3
    await writer([third])
    await third.ack()
    assert await announced(nc) == [80, 81, 82]


async def test_a_second_try_in_the_same_delivery_announces_what_the_first_wrote(
    nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """The worker tries a batch again without a redelivery (held through a database
    outage, or message by message after a failure): the first try may have written flows
    and died before announcing them; the second finds them stored and must announce them."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    store = PodTrafficStore(mongo[mongo_db_name][COLLECTION], 32768)
    await store.ensure_indexes()
    writer = PodTrafficWriter(nc, store, js)
    batch = PodTrafficBatch(groups=[PodTrafficGroup(1, None, [event(p) for p in (90, 91)])])
    await js.publish(bus.TRAFFIC_POD, msgspec.msgpack.encode(batch))
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_deliver=5)
    sub = await js.pull_subscribe(bus.TRAFFIC_POD, durable="retried", config=config)
    (msg,) = await sub.fetch(1, timeout=5)

    await js.delete_stream(bus.FEED.name)  # the feed is away: the first try cannot announce
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(writer([msg]), 2.0)
    assert (await store.created_by([(stream_seq(msg), batch)])) != []  # written, though
    await ensure_streams(js, bus.STREAMS)

    await writer([msg])  # the same delivery
    assert msg.metadata.num_delivered == 1
    await msg.ack()
    assert await announced(nc) == [90, 91]
