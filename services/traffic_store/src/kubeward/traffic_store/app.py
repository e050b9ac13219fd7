"""The traffic-store service body: the write consumers (on the FastStream runtime,
:mod:`kubeward.core.batch_consumers`) and the query responders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core import mongo
from kubeward.core.bus import (
    READ_TIME_LIMIT,
    publish_all,
    publish_reply,
    stream_seq,
)
from kubeward.core.service import ServiceContext
from kubeward.core.settlement import BatchSpec
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficQuery
from kubeward.traffic_store.flows import announcement_id
from kubeward.traffic_store.http_handlers import start_http_traffic
from kubeward.traffic_store.inventory_service import start_inventory
from kubeward.traffic_store.network_service import NetworkService
from kubeward.traffic_store.pod_traffic import (
    APPLIED_MEMORY,
    COLLECTION,
    NewFlow,
    PodTrafficStore,
)
from kubeward.traffic_store.settings import Settings

STAGE = "traffic-store"
QUEUE = "traffic-store"
FEED_POD_TRAFFIC = bus.feed_subject("pod_traffic")
TRIED_MEMORY = 100_000
ANNOUNCE_RETRY_FIRST = 0.5
ANNOUNCE_RETRY_MAX = 5.0
"""Pauses, in seconds, between sends of feed events that got no PubAck."""

log = logging.getLogger(__name__)


class PodTrafficWriter:
    """Batch handler for ``kubeward.traffic.pod``: write, announce new flows on the feed,
    then tell waiting callers."""

    payload = PodTrafficBatch

    def __init__(self, nc: NATS, store: PodTrafficStore, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js
        self._store = store
        self._decoder = msgspec.msgpack.Decoder(self.payload)
        self._tried: set[int] = set()
        """Stream sequences of messages whose handling began here and has not finished: a
        second try in the same delivery (the worker retries a batch held through a
        database outage, or message by message after a failure) may find flows the first
        try wrote and never announced."""

    async def __call__(self, msgs: list[Msg]) -> None:
        """Persist every batch in ``msgs`` with one bulk write."""
        messages = [(stream_seq(m), self._decoder.decode(m.data)) for m in msgs]
        again_seqs = {
            seq
            for (seq, _batch), m in zip(messages, msgs, strict=True)
            if m.metadata.num_delivered > 1 or seq in self._tried
        }
        if len(self._tried) > TRIED_MEMORY:  # sequences another replica finished
            self._tried.clear()
        self._tried.update(seq for seq, _batch in messages)
        outcome = await self._store.write(messages, retried=again_seqs)
        announce = outcome.created
        if again_seqs:
            fresh = {(flow.key, flow.seq) for flow in announce}
            again = await self._store.created_by([m for m in messages if m[0] in again_seqs])
            announce = announce + [f for f in again if (f.key, f.seq) not in fresh]
        await self._announce(announce)
        self._tried.difference_update(seq for seq, _batch in messages)
        replies = []
        for reply_to in outcome.waiting:
            rows = outcome.inserted.get(reply_to, [])
            body = Reply(status=200, body=msgspec.Raw(msgspec.json.encode(rows)), count=len(rows))
            replies.append(publish_reply(self._nc, reply_to, msgspec.json.encode(body)))
        await asyncio.gather(*replies)

    async def _announce(self, created: list[NewFlow]) -> None:
        """Publish ``{"type": "pod_traffic", "data": <row>}`` to ``FEED`` per new flow.

        Pipelined JetStream publishes, every PubAck awaited (bounded). The
        ``Nats-Msg-Id`` (flow key and the sequence that created it) makes a repeat a no-op
        within ``FEED``'s duplicate window: a redelivered message announces again the flows
        it created, so a crash between the write and this announcement loses none, and an
        announcement made before the crash is not doubled. Publishes that get no PubAck
        (nats-server restarting) are sent again until they do: the batch is not acked
        before, and a retry of the batch in this delivery would find its flows stored and
        announce nothing (the worker's handler timeout bounds the wait; past it the batch
        is redelivered and announces from ``created_by``).
        """
        pending = created
        delay = ANNOUNCE_RETRY_FIRST
        while pending:
            acks = await publish_all(
                self._js,
                [
                    (
                        FEED_POD_TRAFFIC,
                        msgspec.json.encode({"type": "pod_traffic", "data": flow.row}),
                        {bus.HDR_MSG_ID: announcement_id(flow.seq, flow.key)},
                    )
                    for flow in pending
                ],
            )
            failed = [flow for flow, ack in zip(pending, acks, strict=True) if _failed(ack)]
            if failed:
                log.warning(
                    "%d of %d pod_traffic feed events not acknowledged (%r); sending again",
                    len(failed),
                    len(pending),
                    next(ack for ack in acks if _failed(ack)),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, ANNOUNCE_RETRY_MAX)
            pending = failed


def _failed(ack: object) -> bool:
    return isinstance(ack, BaseException)


@asynccontextmanager
async def traffic_store(ctx: ServiceContext) -> AsyncIterator[None]:
    """Connect to MongoDB, ensure indexes, start the consumers and the responders; on exit
    stop answering, then drain the consumers."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    client = mongo.connect(settings.mongodb_url)
    db = mongo.database(client, settings.mongodb_db)
    store = PodTrafficStore(db[COLLECTION], settings.ephemeral_port_min)
    await store.ensure_indexes()
    ctx.checks["mongodb"] = lambda: mongo.ping(client)
    runtime = ctx.bus_runtime()
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.TRAFFIC.name,
            durable=f"{bus.CONSUMER_TRAFFIC_STORE}-pod",
            filter_subject=bus.TRAFFIC_POD,
            stage=STAGE,
            batch=max(1, min(settings.pod_traffic_window_messages, APPLIED_MEMORY // 2)),
            max_deliver=settings.max_deliver,
            window=settings.pod_traffic_window_seconds,
        ),
        PodTrafficWriter(ctx.nc, store, ctx.js),
    )
    runtime.replies(
        bus.RPC_POD_TRAFFIC_LIST,
        PodTrafficQuery,
        partial(store.query, max_page=settings.pod_traffic_max_page),
        QUEUE,
        time_limit=READ_TIME_LIMIT,
    )
    # Each capability registers its consumers and responders on the one runtime; they
    # start together, and stop together after the batches in hand are written.
    await start_http_traffic(ctx, db, runtime)
    await start_inventory(ctx, db, runtime)
    await NetworkService.start(db, runtime)
    await ctx.start_runtime(runtime)
    try:
        yield
    finally:
        await runtime.stop()
        await client.close()
