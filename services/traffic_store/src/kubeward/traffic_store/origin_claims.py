"""Which internal message applies each collect message's pod traffic: one, whatever happens.

Ingest forwards the events of many ``COLLECT`` messages (each a :class:`PodTrafficGroup`)
as one ``TRAFFIC`` message, deduplicated by JetStream under an id naming its first and last
collect sequence. When ingest does not learn whether that message was stored (its PubAck
lost in a nats-server restart, ingest killed before its ack, a failed batch retried message
by message), the collect messages come back and go out again, grouped differently: a second
``TRAFFIC`` message under another id, carrying events already stored. The flows' own
exactly-once markers (``TRAFFIC`` sequences) cannot see that.

So before a write applies any flow, each group is claimed by the ``TRAFFIC`` message
carrying it: one small document per collect message, ``_id`` its sequence and stream time,
inserted for the whole write in one ``insert_many``. A group already claimed by another
``TRAFFIC`` message is dropped here: that message applies it (it is in the stream and is
redelivered until it is). A message tried again finds its own claims and keeps its groups.
Claims are written before the flows, so a crash in between only leaves claims that the
redelivery finds as its own.

Claims older than ``keep_seconds`` are deleted (a range on the indexed ``at``, at most once a
minute): a second carrier of a group comes within minutes (redelivery delays), and one
arriving after that long would count its groups again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficGroup

COLLECTION = "pod_traffic_claims"
KEEP_SECONDS = 24 * 3600.0
"""How long a claim is kept (a day: far beyond the bus's redelivery delays)."""
PRUNE_EVERY_SECONDS = 60.0


def claim_id(group: PodTrafficGroup) -> str:
    """The collect message a group came from: its sequence and its stream time."""
    return f"{group.origin_seq}:{group.origin_us}"


class OriginClaims:
    """The ``pod_traffic_claims`` collection: which ``TRAFFIC`` message owns each group."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        keep_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._col = collection
        self._keep = keep_seconds
        self._clock = clock
        self._pruned_at = 0.0

    async def ensure_indexes(self) -> None:
        """The index that pruning ranges over."""
        await self._col.create_index([("at", 1)])

    async def own(
        self, messages: list[tuple[int, PodTrafficBatch]]
    ) -> list[tuple[int, PodTrafficBatch]]:
        """``messages`` (``(TRAFFIC sequence, batch)`` pairs) with only the groups each owns.

        A group no message claimed yet goes to the lowest sequence carrying it; one already
        claimed stays with its claimant. One round trip when nothing was claimed before,
        plus one lookup per :data:`~kubeward.core.mongo.IN_CHUNK` groups that were.
        """
        wanted: dict[str, int] = {}
        for seq, batch in sorted(messages, key=lambda m: m[0]):
            for group in batch.groups:
                wanted.setdefault(claim_id(group), seq)
        if not wanted:
            return messages
        owner = dict(wanted)
        now = self._clock()
        ids = list(wanted)
        claims = [{"_id": cid, "by": seq, "at": now} for cid, seq in wanted.items()]
        refused = await mongo.insert_new(self._col, claims)
        if refused:
            owner.update(await self._owners([ids[index] for index in sorted(refused)]))
        await self._prune(now)
        return [
            (seq, PodTrafficBatch([g for g in batch.groups if owner[claim_id(g)] == seq]))
            for seq, batch in messages
        ]

    async def _owners(self, ids: list[str]) -> dict[str, int]:
        """Who claimed each of ``ids`` (all stored: their inserts hit the duplicate key)."""
        found: dict[str, int] = {}
        async for doc in mongo.find_in(self._col, "_id", ids, {"by": 1}):
            found[doc["_id"]] = int(doc["by"])
        missing = set(ids) - found.keys()
        if missing:  # pruned between the insert and the lookup: nobody else applies them
            raise RuntimeError(f"{len(missing)} claims vanished while being read; try again")
        return found

    async def _prune(self, now: float) -> None:
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        await self._col.delete_many({"at": {"$lt": now - self._keep}})
