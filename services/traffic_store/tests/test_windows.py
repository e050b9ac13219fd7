"""Pod traffic written per window: hits counted exactly once across redelivery of a
window, a crash between its write and its acks, and two replicas; every new flow
announced once (real NATS JetStream and the real MongoDB wire server).

A "replica" is a :class:`PodTrafficStore` of its own: its memory of stored flows starts
empty, so its first sightings go the insert path that a warm store skips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.batch_consumers import BusRuntime
from kubeward.core.bus import ensure_streams, stream_seq
from kubeward.core.mongo import Document
from kubeward.core.settlement import BatchSpec
from kubeward.devstack.testing import Commands, eventually, stored_messages
from kubeward.schemas import bus
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.app import PodTrafficWriter
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore

FLOWS = 12
MESSAGES = 8


def event(flow: int, n: int) -> PodTrafficEvent:
    """Sighting ``n`` of flow ``flow`` (flows differ by the pod's port)."""
    return PodTrafficEvent(
        uuid=f"00000000-0000-4000-{flow:04d}-{n:012d}",
        pod_name="web",
        pod_namespace="prod",
        pod_ip="10.0.0.1",
        pod_port=str(2000 + flow),
        ip_protocol="TCP",
        traffic_type="INGRESS",
        traffic_in_out_ip="10.0.0.2",
        traffic_in_out_port="443",
        decision="ALLOW",
        time_stamp=f"2026-05-12T10:{n // 60 % 60:02d}:{n % 60:02d}.000000",
    )


def message(m: int) -> PodTrafficBatch:
    """TRAFFIC message ``m``: mostly repeats of a few flows, each message a new one too."""
    events = [event(f % FLOWS, m * 100 + i) for i, f in enumerate(range(m, m + 2 * FLOWS, 3))]
    events.append(event(FLOWS + m, m * 100 + 99))
    return PodTrafficBatch(groups=[PodTrafficGroup(m + 1, None, events)])


EVENTS = sum(len(message(m).groups[0].events) for m in range(MESSAGES))
DISTINCT = len({e.pod_port for m in range(MESSAGES) for e in message(m).groups[0].events})


async def publish(js: JetStreamContext) -> None:
    """Every message to ``kubeward.traffic.pod``, each PubAck awaited."""
    await ensure_streams(js, bus.STREAMS)
    for m in range(MESSAGES):
        await js.publish(bus.TRAFFIC_POD, msgspec.msgpack.encode(message(m)))


async def totals(col: AsyncCollection[Document]) -> tuple[int, int]:
    """(sum of hits, documents)."""
    docs = await col.find({}, {"hits": 1}).to_list()
    return sum(d["hits"] for d in docs), len(docs)


async def announced(nc: NATS) -> list[str]:
    """``pod_port`` of every ``pod_traffic`` feed event, sorted."""
    msgs = await stored_messages(nc, bus.feed_subject("pod_traffic"), bus.FEED.name)
    return sorted(msgspec.json.decode(m.data)["data"]["pod_port"] for m in msgs)


def worker(
    nats_url: str,
    handler: Callable[[list[Msg]], Awaitable[None]],
    *,
    batch: int = MESSAGES,
    window: float = 10.0,
    ack_wait: float = 30.0,
) -> BusRuntime:
    """The pod-traffic consumer as app.py wires it (on a runtime of its own, as a replica
    has), on a durable of its own."""
    runtime = BusRuntime("traffic-store", nats_url)
    spec = BatchSpec(
        stream=bus.TRAFFIC.name,
        durable="windows",
        filter_subject=bus.TRAFFIC_POD,
        stage="traffic-store",
        batch=batch,
        window=window,
        ack_wait=ack_wait,
        retry_delay=0.05,
    )
    runtime.batch_consumer(spec, handler)
    return runtime


async def ack_floor(js: JetStreamContext) -> int:
    """The consumer's ack floor (stream sequence)."""
    info = await js.consumer_info(bus.TRAFFIC.name, "windows")
    return int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0


async def test_a_window_is_one_write_and_acked_only_after_it(
    nats_url: str, nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    js = nc.jetstream()
    col = mongo[mongo_db_name][COLLECTION]
    store = PodTrafficStore(col, 32768)
    await store.ensure_indexes()
    writer = PodTrafficWriter(nc, store, js)
    windows: list[int] = []
    floors_during_write: list[int] = []

    async def handler(msgs: list[Msg]) -> None:
        windows.append(len(msgs))
        await writer(msgs)
        floors_during_write.append(await ack_floor(js))

    await ensure_streams(js, bus.STREAMS)
    w = worker(nats_url, handler)
    await w.start()
    try:
        # Published one by one after the worker started: the first fetch returns the first
        # message(s); the window (10 s, ended by the full batch) gathers the rest.
        await publish(js)
        await eventually(lambda: ack_floor(js), lambda f: f == MESSAGES, what="all acked")
    finally:
        await w.stop()
    assert windows == [MESSAGES]
    assert floors_during_write == [0]  # written, and not one ack yet
    assert await totals(col) == (EVENTS, DISTINCT)
    assert await announced(nc) == sorted({str(2000 + f) for f in range(FLOWS + MESSAGES)})


async def test_a_crash_between_write_and_ack_counts_nothing_twice(
    nats_url: str, nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    js = nc.jetstream()
    col = mongo[mongo_db_name][COLLECTION]
    first = PodTrafficStore(col, 32768)
    await first.ensure_indexes()
    written = asyncio.Event()

    async def dies_after_the_write(msgs: list[Msg]) -> None:
        decoded = [
            (stream_seq(m), msgspec.msgpack.decode(m.data, type=PodTrafficBatch)) for m in msgs
        ]
        assert len((await first.write(decoded)).created) == DISTINCT  # not announced yet
        written.set()
        # The consumer's task is cancelled here (as by kill -9): neither ack nor nak follows.
        raise asyncio.CancelledError

    await publish(js)
    crashing = worker(nats_url, dies_after_the_write, ack_wait=1.0)
    await crashing.start()
    await asyncio.wait_for(written.wait(), 15)
    await crashing.stop()
    assert await totals(col) == (EVENTS, DISTINCT)
    assert await ack_floor(js) == 0
    assert await announced(nc) == []

    # A restarted replica (its flow memory empty) gets the whole window again.
    second = PodTrafficStore(col, 32768)
    restarted = worker(nats_url, PodTrafficWriter(nc, second, js), ack_wait=1.0)
    await restarted.start()
    try:
        await eventually(lambda: ack_floor(js), lambda f: f == MESSAGES, what="all acked")
    finally:
        await restarted.stop()
    assert await totals(col) == (EVENTS, DISTINCT)
    assert await announced(nc) == sorted({str(2000 + f) for f in range(FLOWS + MESSAGES)})


async def test_a_window_redelivered_mixed_with_new_messages_counts_only_the_new(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    col = mongo[mongo_db_name][COLLECTION]
    a = PodTrafficStore(col, 32768)
    await a.ensure_indexes()
    first = [(m + 1, message(m)) for m in range(4)]
    rest = [(m + 1, message(m)) for m in range(4, MESSAGES)]
    created = await a.write(first)
    # Another replica, knowing no flow, gets the first window again with the rest.
    b = PodTrafficStore(col, 32768)
    again = await b.write([*rest, *first])
    assert await totals(col) == (EVENTS, DISTINCT)
    assert created.new_flows + again.new_flows == DISTINCT
    # And once more, on the replica that wrote it: a no-op.
    assert (await a.write(first + rest)).new_flows == 0
    assert await totals(col) == (EVENTS, DISTINCT)


async def test_two_replicas_share_the_consumer_and_count_every_hit_once(
    nats_url: str, nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    js = nc.jetstream()
    col = mongo[mongo_db_name][COLLECTION]
    stores = [PodTrafficStore(col, 32768) for _ in range(2)]
    await stores[0].ensure_indexes()
    await ensure_streams(js, bus.STREAMS)
    workers = [
        worker(nats_url, PodTrafficWriter(nc, s, js), batch=2, window=0.05, ack_wait=2.0)
        for s in stores
    ]
    for w in workers:
        await w.start()
    try:
        await publish(js)
        await eventually(lambda: ack_floor(js), lambda f: f == MESSAGES, what="all acked")
    finally:
        for w in workers:
            await w.stop()
    assert await totals(col) == (EVENTS, DISTINCT)
    assert await announced(nc) == sorted({str(2000 + f) for f in range(FLOWS + MESSAGES)})


async def test_a_big_window_tried_again_costs_a_few_writes_not_one_per_flow(
    mongo_url: str, mongo_db_name: str
) -> None:
    """After a crash every flow of the window is stored and partly applied: trying it again
    must not settle the flows one round trip each (at 20 k flows that held traffic-store
    for minutes in ``bench.faults``)."""
    writes = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[writes])
    try:
        col = client[mongo_db_name][COLLECTION]
        flows = 600
        messages = [
            (
                seq,
                PodTrafficBatch(
                    groups=[
                        PodTrafficGroup(seq, None, [event(f, seq * 1000 + f) for f in range(flows)])
                    ]
                ),
            )
            for seq in (1, 2, 3)
        ]
        first = PodTrafficStore(col, 32768)
        await first.ensure_indexes()
        await first.write(messages[:2])  # the first try got this far before the crash
        writes.clear()
        again = PodTrafficStore(col, 32768)  # a restarted replica: no flow known
        outcome = await again.write(messages)
        assert outcome.new_flows == 0
        assert await totals(col) == (3 * flows, flows)
        # claims, insert_many, upserts, settled upserts
        assert writes.writes() <= 5, writes.names

        # Known to be a retry (redelivered): what was applied is read, nothing written.
        writes.clear()
        third = PodTrafficStore(col, 32768)
        assert (await third.write(messages, retried={1, 2, 3})).new_flows == 0
        assert writes.writes() == 2  # the claims (found its own) and the listing span
        assert await totals(col) == (3 * flows, flows)
    finally:
        await client.close()
