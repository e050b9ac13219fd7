"""The inventory capability of traffic-store: its write worker and its query responder."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.batch_worker import BatchWorker
from kubeward.core.bus import READ_TIME_LIMIT, publish_reply, serve_replies
from kubeward.core.mongo import Document
from kubeward.core.service import ServiceContext
from kubeward.schemas import bus
from kubeward.schemas.inventory import InventoryBatch, InventoryQuery
from kubeward.schemas.replies import Reply
from kubeward.traffic_store.inventory import InventoryStore
from kubeward.traffic_store.settings import Settings

STAGE = "traffic-store"


class InventoryWriter:
    """Batch handler for ``kubeward.traffic.inventory``: apply each group in stream order,
    then answer the HTTP caller waiting for it (after the write)."""

    def __init__(self, nc: NATS, store: InventoryStore) -> None:
        self._nc = nc
        self._store = store
        self._decoder = msgspec.msgpack.Decoder(InventoryBatch)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Groups are applied one after the other: a pod's updates keep their order."""
        for msg in msgs:
            for group in self._decoder.decode(msg.data).groups:
                answer = await self._store.apply(group)
                if group.reply_to is not None:
                    reply = Reply(body=msgspec.Raw(answer), count=len(group.records))
                    await publish_reply(self._nc, group.reply_to, msgspec.json.encode(reply))


class InventoryService:
    """The worker and the responder, started and stopped together."""

    def __init__(self, worker: BatchWorker, subs: list[Any]) -> None:
        self.worker = worker
        self._subs = subs

    @classmethod
    async def start(cls, ctx: ServiceContext, db: AsyncDatabase[Document]) -> InventoryService:
        """Ensure indexes, start the write worker and answer inventory reads."""
        settings = ctx.settings
        assert isinstance(settings, Settings)
        store = InventoryStore(db)
        await store.ensure_indexes()
        worker = BatchWorker(
            ctx.js,
            stream=bus.TRAFFIC.name,
            durable=f"{bus.CONSUMER_TRAFFIC_STORE}-inventory",
            filter_subject=bus.TRAFFIC_INVENTORY,
            handler=InventoryWriter(ctx.nc, store),
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        )
        await worker.start()
        ctx.watch(worker)
        subs = [
            await serve_replies(
                ctx.nc,
                bus.RPC_INVENTORY,
                InventoryQuery,
                store.query,
                "traffic-store",
                time_limit=READ_TIME_LIMIT,
            )
        ]
        return cls(worker, subs)

    async def stop(self) -> None:
        """Stop answering, then finish the batch in hand."""
        for sub in self._subs:
            await sub.unsubscribe()
        await self.worker.stop()
