"""Bus handlers of the arkyn HTTP-traffic capability and their start/stop as one unit."""

from __future__ import annotations

import asyncio
from functools import partial

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.batch_consumers import BusRuntime
from kubeward.core.bus import (
    READ_TIME_LIMIT,
    dead_letter,
    publish_reply,
)
from kubeward.core.mongo import Document
from kubeward.core.service import ServiceContext
from kubeward.core.settlement import BatchSpec
from kubeward.schemas import bus
from kubeward.schemas.arkyn import ArkynCommand
from kubeward.schemas.http_traffic import HttpEntityCreate, HttpTrafficBatch, HttpTrafficQuery
from kubeward.traffic_store.http_entities import HttpEntities
from kubeward.traffic_store.http_log import HttpLogComposer, HttpLogWriter
from kubeward.traffic_store.http_plural import PluralApi
from kubeward.traffic_store.http_traffic import COLLECTION, HttpTrafficStore
from kubeward.traffic_store.settings import Settings

STAGE = "traffic-store"
QUEUE = "traffic-store"


class HttpTrafficWriter:
    """Batch handler for ``kubeward.traffic.http``: check, write, answer, dead-letter."""

    payload = HttpTrafficBatch

    def __init__(self, nc: NATS, js: JetStreamContext, store: HttpTrafficStore) -> None:
        self._nc = nc
        self._js = js
        self._store = store
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Persist every batch in ``msgs`` with one bulk insert."""
        outcome = await self._store.write([self._decoder.decode(m.data) for m in msgs])
        for rejected in outcome.rejected:
            group = rejected.group
            await dead_letter(
                self._js,
                STAGE,
                msgspec.json.encode(rejected.record),
                rejected.reason,
                bus.COLLECT_HTTP_TRAFFIC_PREFIX + group.traffic_source_id,
                group.origin_seq,
            )
        await asyncio.gather(
            *(
                publish_reply(self._nc, reply_to, msgspec.json.encode(reply))
                for reply_to, reply in outcome.replies.items()
            )
        )


async def start_http_traffic(
    ctx: ServiceContext, db: AsyncDatabase[Document], runtime: BusRuntime
) -> None:
    """Ensure indexes and register the write consumers and the creation and list
    responders on ``runtime`` (the caller starts it; they drain and stop with it)."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    entities = HttpEntities(db)
    store = HttpTrafficStore(db[COLLECTION], entities)
    await entities.ensure_indexes()
    await store.ensure_indexes()
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.TRAFFIC.name,
            durable=f"{bus.CONSUMER_TRAFFIC_STORE}-http",
            filter_subject=bus.TRAFFIC_HTTP,
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        ),
        HttpTrafficWriter(ctx.nc, ctx.js, store),
    )
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.TRAFFIC.name,
            durable=f"{bus.CONSUMER_TRAFFIC_STORE}-http-log",
            filter_subject=bus.TRAFFIC_HTTP_LOG,
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        ),
        HttpLogWriter(ctx.nc, ctx.js, HttpLogComposer(db, store)),
    )
    runtime.replies(bus.RPC_HTTP_ENTITY_CREATE, HttpEntityCreate, entities.create, QUEUE)
    runtime.replies(
        bus.RPC_HTTP_TRAFFIC_LIST,
        HttpTrafficQuery,
        partial(store.query, max_page=settings.max_page),
        QUEUE,
        time_limit=READ_TIME_LIMIT,
    )
    runtime.replies(bus.RPC_ARKYN, ArkynCommand, PluralApi(store, db[COLLECTION]), QUEUE)
