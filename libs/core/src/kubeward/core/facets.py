"""Facets: one multikey index that turns an equality filter on any of several fields into
a bounded range, so a filtered page reads its matches, not the rows its filter skips.

A listing walks bounded windows of an ordered key (:mod:`kubeward.core.windows`). A filter
on a field outside the key's index prefix is applied to the rows read, so a page of a
rare value reads every row down to its matches, and a value matching nothing reads the
whole range: O(collection). Indexing every filterable field as its own compound index
would make every insert pay for each. Instead each document carries its *facets*, one
string per filterable field and value (``"severity=critical"``), and one compound
multikey index holds the ordered key under every facet. A page reads the windows of one
facet (:func:`pick`: the first filter of a caller's preference, which puts the most
selective fields first) and applies the other filters to those rows. An unfiltered page
reads the collection's plain ordered index (:data:`ALL` names it; a document may also
carry ``ALL`` as a facet, but reading 1000 findings through the multikey index while
inserts landed beside them stalled the report path in ``bench.failure_http``).

Only string, integer and boolean values become facets (each element of a list does); a
field holding anything else (or nothing) has none, and a filter on it falls back to
:data:`ALL` and the residual match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.mongo import Document

FIELD = "facets"
"""Where a document keeps its facets."""
ALL = "*"
"""The facet every document has: the unfiltered list."""
MAX_VALUES = 8
"""A filter on more values than this is not read by facets (a range per value per window
would cost more than the rows it skips): the next filter or :data:`ALL` is."""
BACKFILL_BATCH = 500
"""Updates per bulk write when facets are added to documents stored before them."""


def facet(field: str, value: object) -> str:
    """The facet of ``field`` holding ``value``."""
    return f"{field}={value}"


def _indexable(value: object) -> bool:
    return isinstance(value, str | int)  # bool is an int


def facets_of(doc: Mapping[str, Any], fields: Iterable[str], *, with_all: bool = True) -> list[str]:
    """``doc``'s facets: one per field of ``fields`` it holds a value of (one per element,
    for a field holding a list), after :data:`ALL` unless ``with_all`` is false (for a
    collection whose unfiltered list reads another index)."""
    found = [ALL] if with_all else []
    for field in fields:
        value = doc.get(field)
        values = value if isinstance(value, list | tuple) else (value,)
        found += dict.fromkeys(facet(field, v) for v in values if _indexable(v))
    return found


def pick(filters: Mapping[str, Any], preference: Sequence[str]) -> tuple[str, list[str]]:
    """The facet field to read a filtered list by, and the facets to read.

    The first field of ``preference`` that ``filters`` sets to a value or to
    ``{"$in": [values]}`` of at most :data:`MAX_VALUES` values (one facet per value: each
    is read as its own range); ``(ALL, [ALL])`` when none is. The caller applies every
    filter to the rows read.
    """
    for field in preference:
        wanted = filters.get(field)
        if wanted is None:
            continue
        if isinstance(wanted, dict):
            values = list(dict.fromkeys(wanted.get("$in", ())))
            if len(values) <= MAX_VALUES and all(_indexable(v) for v in values):
                return field, [facet(field, v) for v in values]
        elif _indexable(wanted):
            return field, [facet(field, wanted)]
    return ALL, [ALL]


async def backfill(
    col: AsyncCollection[Document],
    markers: AsyncCollection[Document],
    name: str,
    compute: Callable[[Document], Any],
    projection: Mapping[str, int],
    *,
    field: str = FIELD,
) -> int:
    """Give every document of ``col`` stored before it had facets its ``field``
    (``compute`` of the document read with ``projection``), once per database: a marker
    ``name`` in ``markers`` records that it was done. Returns how many were updated.

    The first start after an upgrade reads the documents without the field (a scan, as an
    index build is); later starts read the marker only. Idempotent, so replicas starting
    together may both run it.
    """
    if await markers.find_one({"_id": name}) is not None:
        return 0
    done = 0
    ops: list[UpdateOne] = []
    async for doc in col.find({field: {"$exists": False}}, dict(projection)):
        ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {field: compute(doc)}}))
        if len(ops) >= BACKFILL_BATCH:
            done += (await col.bulk_write(ops, ordered=False)).modified_count
            ops = []
    if ops:
        done += (await col.bulk_write(ops, ordered=False)).modified_count
    await markers.update_one({"_id": name}, {"$set": {"done": True}}, upsert=True)
    return done


async def drop_indexes(col: AsyncCollection[Document], names: Iterable[str]) -> None:
    """Drop the indexes ``names`` of ``col`` that exist (ones facets made unnecessary)."""
    existing = set(await col.index_information())
    for name in names:
        if name in existing:
            await col.drop_index(name)
