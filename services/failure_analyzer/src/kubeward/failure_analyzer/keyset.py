"""Newest-first pages over dense integer ids, read as bounded index ranges.

``find(filter).sort("_id", -1).limit(n)`` reads and sorts every match on SecantusDB (and a
range on ``_id`` alone, or one bounded on one side only, scans). What stays O(result) there
and on MongoDB is an equality prefix plus a range bounded on both sides of a compound index
ending in ``_id``. Ids come from a counter (1, 2, ...), so the counter's value bounds the
newest id and 1 the oldest: a page is read as id windows ``[lo, hi]`` walking down from the
cursor, one query per equality prefix (a view's statuses), each window sized from the
density seen so far (the first from the density the previous page of the same filter saw),
until the page is full or the ids are exhausted. A window's documents are read whole whatever
its ``limit`` (on SecantusDB), so a window sized too wide costs reading what it over-holds,
one sized too narrow an extra round trip.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

import msgspec
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.mongo import Document

GROWTH_WHEN_EMPTY = 4
"""How much wider the next window is while none of the windows so far matched anything."""
MAX_GROWTH = 16
"""The most one window may grow over the previous (a dense stretch after a sparse one
costs at most this much over-reading)."""
MAX_HINTED = 64
"""The most pages' worth of ids a first window sized from an earlier page's density may
span (a stale hint, after a burst of records, over-reads at most this much once)."""
SLACK = 1.1
"""Over-estimate of the ids still needed, so a slightly sparser stretch does not cost one
more round trip."""


class Page(msgspec.Struct, frozen=True):
    """What :func:`newest_first` read."""

    docs: list[Document]
    density: float | None
    """Matches per id over the ids spanned (``None``: nothing spanned), a hint for the
    next page of the same filter."""


async def newest_first(
    col: AsyncCollection[Document],
    prefixes: Sequence[Document],
    below: int,
    want: int,
    density: float | None = None,
    *,
    slice_rows: int | None = None,
    between: Callable[[], Awaitable[None]] | None = None,
) -> Page:
    """Up to ``want`` documents matching any of ``prefixes`` with ``1 <= _id < below``, the
    highest ids first; ``density`` (matches per id, from an earlier page) sizes the first
    window. ``slice_rows`` caps one window at about that many matches (at the density seen
    so far); ``between`` is awaited between two windows (pacing, see
    :mod:`~kubeward.core.ingest_first`).

    Each prefix is an equality filter that leads an index followed by ``_id`` (so each
    window is one bounded index range). Every document of a window is newer than any id
    below it, so once the windows read hold ``want`` documents, their newest ``want`` are
    the answer.
    """
    found: list[Document] = []
    hi = below - 1
    width = max(1, want)
    if density:
        width = max(width, min(math.ceil(want / density * SLACK), width * MAX_HINTED))
    spanned = 0
    while hi >= 1 and len(found) < want:
        if spanned and between is not None:
            await between()
        if slice_rows is not None:
            rate = len(found) / spanned if found else (density or 1.0)
            width = min(width, max(slice_rows, math.ceil(slice_rows / rate)))
        lo = max(1, hi - width + 1)
        window = {"$gte": lo, "$lte": hi}
        for prefix in prefixes:
            found.extend(await col.find({**prefix, "_id": window}).to_list())
        spanned += hi - lo + 1
        hi = lo - 1
        width = _next_width(width, spanned, len(found), want)
    found.sort(key=lambda d: d["_id"], reverse=True)
    seen = (len(found) or 1) / spanned if spanned else None
    return Page(found[:want], seen)


def _next_width(width: int, spanned: int, found: int, want: int) -> int:
    """The next window's width: enough ids for the rest of the page at the density seen."""
    if found == 0:
        return width * GROWTH_WHEN_EMPTY
    needed = want - found
    if needed <= 0:
        return width
    estimate = math.ceil(needed * spanned / found * SLACK)
    return max(needed, min(estimate, width * MAX_GROWTH))
