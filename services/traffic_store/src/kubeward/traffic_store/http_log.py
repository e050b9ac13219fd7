"""arkyn collector logs (``POST /ingest-log``): composed into the five entities, idempotently.

One log names its traffic source and carries the domain URL, the pathname, the request
and the response. traffic-store finds or creates the domain (natural key: source, URL,
protocol) and the pathname (domain, value), stores the request and the response, and
writes one HttpTraffic record, as arkyn's server composes an ``HttpTrafficRecord``.

Idempotency: the digest of the posted bytes is claimed first in ``http_log_digests``
(``_id`` = digest, holding the record id). A post whose digest is claimed by another
record stores nothing (a client retry); a redelivered message derives the same ids from
its origin and rewrites nothing (``_id`` duplicates are ignored).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kubeward.core.bus import dead_letter, publish_reply
from kubeward.core.mongo import Document
from kubeward.schemas import bus
from kubeward.schemas.arkyn import HttpLogBatch, HttpLogGroup
from kubeward.schemas.http_traffic import HttpTraffic, format_created_at, level_for, uuid7
from kubeward.schemas.replies import NULL, Reply, error
from kubeward.traffic_store.http_traffic import HttpTrafficStore, traffic_document

DIGESTS = "http_log_digests"
STAGE = "traffic-store"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_ids(group: HttpLogGroup) -> tuple[str, str, str]:
    """Ids of the record, its request and its response: the same on every delivery."""
    ms = group.origin_us // 1000
    seed = f"{group.origin_seq}:{group.origin_us}:{group.digest}"
    return (
        uuid7(ms, f"{seed}:traffic".encode()),
        uuid7(ms, f"{seed}:request".encode()),
        uuid7(ms, f"{seed}:response".encode()),
    )


class HttpLogComposer:
    """Writes logs into the entities and the ``http_traffic`` collection."""

    def __init__(self, db: AsyncDatabase[Document], store: HttpTrafficStore) -> None:
        self._digests: AsyncCollection[Document] = db[DIGESTS]
        self._store = store
        self._entities = store.entities

    async def _claim(self, digest: str, record_id: str) -> bool:
        """True when this record owns the digest (now or from an earlier delivery)."""
        try:
            await self._digests.insert_one({"_id": digest, "id": record_id})
        except DuplicateKeyError:
            owner = await self._digests.find_one({"_id": digest})
            return owner is not None and owner["id"] == record_id
        return True

    async def compose(self, group: HttpLogGroup) -> Reply:
        """Store one log; 200 ``null`` as arkyn's ingest answers, 404 for an unknown source."""
        rec = group.record
        source = rec.traffic_source_id
        if not await self._entities.source_exists(source):
            return error(404, f"Traffic source {source} not found")
        traffic_id, request_id, response_id = record_ids(group)
        if not await self._claim(group.digest, traffic_id):
            return Reply(status=200, body=NULL, count=0)
        protocol = rec.protocol.upper()
        url = urlsplit(rec.domain_url)
        # The URL's origin is the domain (an explicit port stays part of it, as arkyn keeps it).
        domain_value = f"{url.scheme.lower()}://{url.netloc.lower()}"
        domain, _ = await self._entities.ensure_domain(source, domain_value, protocol, None)
        pathname, _ = await self._entities.ensure_pathname(source, domain.id, rec.pathname_url)
        moment = _EPOCH + timedelta(microseconds=group.origin_us)
        await self._entities.store_exchange(
            "request",
            request_id,
            moment,
            {
                "headers": rec.request_headers,
                "body": rec.request_body,
                "queryParams": rec.query_params,
            },
        )
        await self._entities.store_exchange(
            "response",
            response_id,
            moment,
            {"headers": rec.response_headers, "body": rec.response_body},
        )
        record = HttpTraffic(
            id=traffic_id,
            status=rec.status,
            method=rec.method,
            level=level_for(rec.status),
            elapsed_time=rec.elapsed_time,
            traffic_user_id=rec.traffic_user_id,
            traffic_source_id=source,
            domain_id=domain.id,
            pathname_id=pathname.id,
            request_id=request_id,
            response_id=response_id,
            created_at=format_created_at(moment),
        )
        duplicates = await self._store.insert([traffic_document(record, group.origin_us)])
        return Reply(status=200, body=NULL, count=0 if duplicates else 1)


class HttpLogWriter:
    """Batch handler for ``kubeward.traffic.http-log``: compose, answer, dead-letter."""

    payload = HttpLogBatch

    def __init__(self, nc: NATS, js: JetStreamContext, composer: HttpLogComposer) -> None:
        self._nc = nc
        self._js = js
        self._composer = composer
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Compose every log of the fetched batches, in order."""
        replies = []
        for msg in msgs:
            for group in self._decoder.decode(msg.data).groups:
                reply = await self._composer.compose(group)
                if group.reply_to is not None:
                    replies.append(
                        publish_reply(self._nc, group.reply_to, msgspec.json.encode(reply))
                    )
                elif not reply.ok:
                    await dead_letter(
                        self._js,
                        STAGE,
                        msgspec.json.encode(group.record),
                        reply.detail or "rejected",
                        bus.COLLECT_HTTP_LOG,
                        group.origin_seq,
                    )
        await asyncio.gather(*replies)
