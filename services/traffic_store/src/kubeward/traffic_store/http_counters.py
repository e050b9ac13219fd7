"""Totals of arkyn lists kept as counters, so a list's ``totalItems`` is one indexed read.

Counting a source's records with ``count_documents`` scans them (on SecantusDB even the
whole collection); instead every write that genuinely adds or removes an entity moves its
counter. Keys: ``sources``, ``domains:<sourceId>``, ``pathnames:<domainId>``,
``traffic:<sourceId>``. A counter also keeps the first and last ``ts`` ever added: where a
list's time windows start (see :mod:`kubeward.traffic_store.http_plural`).
"""

from __future__ import annotations

from typing import Any

import msgspec
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


class Tally(msgspec.Struct, frozen=True):
    """A counter's value and the time span of what it counted."""

    n: int
    first: str | None
    last: str | None


class Counters:
    """One document per counter: ``{_id: key, n: int, first: ts, last: ts}``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col: AsyncCollection[Document] = db[COLLECTION]

    @property
    def collection(self) -> AsyncCollection[Document]:
        """Where the counters are (also holds the markers of one-time migrations)."""
        return self._col

    async def add(
        self, key: str, n: int, first: str | None = None, last: str | None = None
    ) -> None:
        """Move ``key`` by ``n`` (no write when ``n`` is 0); widen its span to the ``ts``
        range ``first``..``last`` of what was added."""
        if not n:
            return
        update: dict[str, Any] = {"$inc": {"n": n}}
        if first is not None:
            update["$min"] = {"first": first}
        if last is not None:
            update["$max"] = {"last": last}
        await self._col.update_one({"_id": key}, update, upsert=True)

    async def read(self, key: str) -> Tally:
        """The counter (0 and no span when never moved; never negative)."""
        doc = await self._col.find_one({"_id": key})
        if doc is None:
            return Tally(0, None, None)
        return Tally(max(0, int(doc["n"])), doc.get("first"), doc.get("last"))

    async def get(self, key: str) -> int:
        """The current value (0 when never moved; never negative)."""
        return (await self.read(key)).n
