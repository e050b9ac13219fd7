"""Totals of arkyn lists kept as counters, so a list's ``totalItems`` is one indexed read.

Counting a source's records with ``count_documents`` scans them (on SecantusDB even the
whole collection); instead every write that genuinely adds or removes an entity moves its
counter. Keys: ``sources``, ``domains:<sourceId>``, ``pathnames:<domainId>``,
``traffic:<sourceId>``.
"""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document

COLLECTION = "http_counters"


def sources() -> str:
    """Counter of all traffic sources."""
    return "sources"


def domains(source_id: str) -> str:
    """Counter of a source's domains."""
    return f"domains:{source_id}"


def pathnames(domain_id: str) -> str:
    """Counter of a domain's pathnames."""
    return f"pathnames:{domain_id}"


def traffic(source_id: str) -> str:
    """Counter of a source's HttpTraffic records."""
    return f"traffic:{source_id}"


class Counters:
    """One document per counter: ``{_id: key, n: int}``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col: AsyncCollection[Document] = db[COLLECTION]

    async def add(self, key: str, n: int) -> None:
        """Move ``key`` by ``n`` (no write when ``n`` is 0)."""
        if n:
            await self._col.update_one({"_id": key}, {"$inc": {"n": n}}, upsert=True)

    async def get(self, key: str) -> int:
        """The current value (0 when never moved; never negative)."""
        doc = await self._col.find_one({"_id": key})
        return max(0, int(doc["n"])) if doc is not None else 0
