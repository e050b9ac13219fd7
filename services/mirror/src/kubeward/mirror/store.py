"""The ``mirrors`` collection (owned by the mirror service): one document per mirror pod.

``_id`` is the mirror id. A replica acts on a mirror's expiry or deletion only after
claiming it with a conditional update (``claimed_by``/``claim_until``), so replicas never
delete the same pod twice; a claim that was not completed (the replica died) lapses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.mirror.pod_state import DELETED

COLLECTION = "mirrors"
CREATING = "Creating"
"""A record's status until its pod exists."""


def now() -> datetime:
    """The current time, UTC, at millisecond precision (what MongoDB stores)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class MirrorStore:
    """Mirror records."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.col = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Expiry look-ups by the reaper."""
        await self.col.create_index("expires_at")

    async def insert(self, doc: Document) -> Document | None:
        """Store a new record; ``None`` when one with its ``_id`` exists (a retried deploy)."""
        try:
            await self.col.insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    async def get(self, mirror_id: str) -> Document | None:
        """One record, deleted or not."""
        return await self.col.find_one({"_id": mirror_id})

    async def active(self) -> list[Document]:
        """Records not deleted, oldest first."""
        cursor = self.col.find({"deleted_at": None}).sort("created_at", 1)
        return [doc async for doc in cursor]

    async def set_fields(self, mirror_id: str, fields: dict[str, Any]) -> None:
        """Update fields of one record."""
        await self.col.update_one({"_id": mirror_id}, {"$set": fields})

    async def observe_status(self, mirror_id: str, status: str, version: int | None) -> bool:
        """Record a status seen on the mirror's pod; true if this call changed it.

        Only one replica's write of a change succeeds, so the change is announced once. A
        record being created or deleted (claimed, or still ``Creating``) is left alone,
        ``Deleted`` is final, and an observation older (by ``version``, the pod's
        ``resourceVersion``) than the one recorded never overwrites it, nor does one
        without a version (a deletion always does).
        """
        conditions: list[dict[str, Any]] = [
            {"status": {"$ne": status}},
            {"status": {"$ne": CREATING}},
            {"status": {"$ne": DELETED}},
            {"$or": [{"claim_until": None}, {"claim_until": {"$lt": now()}}]},
        ]
        fields: dict[str, Any] = {"status": status}
        if version is not None:
            fields["status_version"] = version
        if status == DELETED:
            pass  # whenever it was seen, the pod is gone
        elif version is not None:
            conditions.append(
                {"$or": [{"status_version": None}, {"status_version": {"$lt": version}}]}
            )
        else:  # cannot be ordered: never over one that can (a late event of another replica)
            conditions.append({"status_version": None})
        result = await self.col.update_one(
            {"_id": mirror_id, "deleted_at": None, "$and": conditions}, {"$set": fields}
        )
        return result.modified_count == 1

    async def claim(
        self, mirror_id: str | None, owner: str, seconds: float, *, expired_only: bool
    ) -> Document | None:
        """Take the claim of one record (or of any expired one when ``mirror_id`` is
        ``None``) unless another replica holds a live claim; the record or ``None``."""
        t = now()
        query: dict[str, Any] = {
            "deleted_at": None,
            "$or": [{"claim_until": None}, {"claim_until": {"$lt": t}}],
        }
        if mirror_id is not None:
            query["_id"] = mirror_id
        if expired_only:
            query["expires_at"] = {"$lte": t}
        return await self.col.find_one_and_update(
            query,
            {"$set": {"claimed_by": owner, "claim_until": t + timedelta(seconds=seconds)}},
            return_document=ReturnDocument.AFTER,
        )

    async def remove(self, mirror_id: str, owner: str) -> bool:
        """Delete a record this replica holds the claim of."""
        result = await self.col.delete_one({"_id": mirror_id, "claimed_by": owner})
        return result.deleted_count == 1

    async def known_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` have a record."""
        return {str(doc["_id"]) async for doc in mongo.find_in(self.col, "_id", ids, {"_id": 1})}
