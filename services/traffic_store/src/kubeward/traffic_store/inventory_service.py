"""The inventory capability of traffic-store: its write consumer and its query responder."""

from __future__ import annotations

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.batch_consumers import BusRuntime
from kubeward.core.bus import READ_TIME_LIMIT, publish_reply
from kubeward.core.mongo import Document
from kubeward.core.service import ServiceContext
from kubeward.core.settlement import BatchSpec
from kubeward.schemas import bus
from kubeward.schemas.inventory import InventoryBatch, InventoryQuery
from kubeward.schemas.replies import Reply
from kubeward.traffic_store.inventory import InventoryStore
from kubeward.traffic_store.settings import Settings

STAGE = "traffic-store"
QUEUE = "traffic-store"


class InventoryWriter:
    """Batch handler for ``kubeward.traffic.inventory``: apply each group in stream order,
    then answer the HTTP caller waiting for it (after the write)."""

    payload = InventoryBatch

    def __init__(self, nc: NATS, store: InventoryStore) -> None:
        self._nc = nc
        self._store = store
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Groups are applied one after the other: a pod's updates keep their order."""
        for msg in msgs:
            for group in self._decoder.decode(msg.data).groups:
                answer = await self._store.apply(group)
                if group.reply_to is not None:
                    reply = Reply(body=msgspec.Raw(answer), count=len(group.records))
                    await publish_reply(self._nc, group.reply_to, msgspec.json.encode(reply))


async def start_inventory(
    ctx: ServiceContext, db: AsyncDatabase[Document], runtime: BusRuntime
) -> None:
    """Ensure indexes and register the write consumer and the inventory reads' responder on
    ``runtime`` (the caller starts it; they drain and stop with it)."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    store = InventoryStore(db)
    await store.ensure_indexes()
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.TRAFFIC.name,
            durable=f"{bus.CONSUMER_TRAFFIC_STORE}-inventory",
            filter_subject=bus.TRAFFIC_INVENTORY,
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        ),
        InventoryWriter(ctx.nc, store),
    )
    runtime.replies(
        bus.RPC_INVENTORY, InventoryQuery, store.query, QUEUE, time_limit=READ_TIME_LIMIT
    )
