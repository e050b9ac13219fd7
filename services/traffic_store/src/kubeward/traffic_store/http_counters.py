"""Totals of arkyn lists kept as counters, so a list's ``totalItems`` is one indexed read.

Counting a source's records with ``count_documents`` scans them (on SecantusDB even the
whole collection); instead every write that genuinely adds or removes an entity moves its
counter. Keys: ``sources``, ``domains:<sourceId>``, ``pathnames:<domainId>``,
``traffic:<sourceId>``. A counter also keeps the first and last ``ts`` ever added: where a
list's time windows start (see :mod:`kubeward.traffic_store.http_plural`).

A source's traffic counter is also kept per day and per ten minutes (a *slot*) of ``ts``
(:meth:`Counters.add_times`; ``{_id: "<key>@<day or slot>", list: key, lvl: 1 or 2, b: day
or slot, n}``), so page ``p`` of the list finds the slot its first row is in from two small
reads (:meth:`Counters.locate`) instead of reading the ``(p - 1) x limit`` rows before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document

COLLECTION = "http_counters"
_DAY, _SLOT = 1, 2
"""The ``lvl`` of a day's and a slot's count."""
_DAY_CHARS, _SLOT_CHARS = 10, 15
"""How much of a ``ts`` (``YYYY-MM-DDTHH:MM:SS.ffffff``) names its day and its slot
(``YYYY-MM-DDTHH:M``, ten minutes)."""
_TOP = "\x7f"


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


class Place(NamedTuple):
    """Where row ``skip`` of a list is: in the slot ``slot``, after ``before`` rows of the
    list that come ahead of that slot (newer ones for a newest-first list)."""

    slot: str
    before: int

    @property
    def start(self) -> str:
        """The first ``ts`` of the slot."""
        return f"{self.slot}0:00.000000"

    @property
    def end(self) -> str:
        """The last ``ts`` of the slot."""
        return f"{self.slot}9:59.999999"


def slot_of(ts: str) -> str:
    """The slot (ten minutes) of a stored ``ts``."""
    return ts[:_SLOT_CHARS]


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

    async def ensure_indexes(self) -> None:
        """The index the day and slot counts are read by."""
        await self._col.create_index([("list", ASCENDING), ("lvl", ASCENDING), ("b", ASCENDING)])

    async def add_times(self, key: str, times: Iterable[str], sign: int = 1) -> None:
        """Count rows of ``key`` added (``sign`` 1) or removed (-1) at ``times`` (stored
        ``ts``): its total, span and day and slot counts, in one bulk write."""
        stamps = sorted(times)
        if not stamps:
            return
        total: dict[str, Any] = {"$inc": {"n": sign * len(stamps)}}
        if sign > 0:
            total |= {"$min": {"first": stamps[0]}, "$max": {"last": stamps[-1]}}
        ops = [UpdateOne({"_id": key}, total, upsert=True)]
        for lvl, width in ((_DAY, _DAY_CHARS), (_SLOT, _SLOT_CHARS)):
            for bucket, n in Counter(t[:width] for t in stamps).items():
                ops.append(
                    UpdateOne(
                        {"_id": f"{key}@{bucket}"},
                        {"$inc": {"n": sign * n}, "$set": {"list": key, "lvl": lvl, "b": bucket}},
                        upsert=True,
                    )
                )
        await self._col.bulk_write(ops, ordered=False)

    async def set_slots(self, key: str, slots: Mapping[str, int]) -> None:
        """Set ``key``'s slot counts (:func:`slot_of` -> rows) and the day counts they add
        up to (a recount)."""
        days: Counter[str] = Counter()
        for slot, n in slots.items():
            days[slot[:_DAY_CHARS]] += n
        ops = []
        for lvl, counts in ((_DAY, dict(days)), (_SLOT, slots)):
            for bucket, n in counts.items():
                doc = {"n": n, "list": key, "lvl": lvl, "b": bucket}
                ops.append(UpdateOne({"_id": f"{key}@{bucket}"}, {"$set": doc}, upsert=True))
        for chunk in range(0, len(ops), 500):
            await self._col.bulk_write(ops[chunk : chunk + 500], ordered=False)

    async def locate(self, key: str, skip: int, *, newest_first: bool) -> Place | None:
        """The slot holding row ``skip`` of ``key``'s list in the order asked, from the day
        counts (one read, O(days)) and that day's slot counts (one read, at most 144);
        ``None`` when the counts hold fewer rows."""
        days = await self._counts(key, _DAY, "", _TOP)
        found = self._find(days, skip, newest_first)
        if found is None:
            return None
        day, before = found
        slots = await self._counts(key, _SLOT, day, f"{day}{_TOP}")
        found = self._find(slots, skip - before, newest_first)
        if found is None:
            return None
        slot, within = found
        return Place(slot, before + within)

    async def _counts(self, key: str, lvl: int, lo: str, hi: str) -> list[tuple[str, int]]:
        find = {"list": key, "lvl": lvl, "b": {"$gt": lo, "$lte": hi}}
        docs = await self._col.find(find, {"b": 1, "n": 1}).to_list()
        return sorted((str(d["b"]), int(d["n"])) for d in docs)

    @staticmethod
    def _find(
        counts: list[tuple[str, int]], skip: int, newest_first: bool
    ) -> tuple[str, int] | None:
        """The bucket holding row ``skip``, and the rows of the buckets ahead of it."""
        before = 0
        for bucket, n in reversed(counts) if newest_first else counts:
            if n > 0 and skip < before + n:
                return bucket, before
            before += max(0, n)
        return None

    async def read(self, key: str) -> Tally:
        """The counter (0 and no span when never moved; never negative)."""
        doc = await self._col.find_one({"_id": key})
        if doc is None:
            return Tally(0, None, None)
        return Tally(max(0, int(doc["n"])), doc.get("first"), doc.get("last"))

    async def get(self, key: str) -> int:
        """The current value (0 when never moved; never negative)."""
        return (await self.read(key)).n
