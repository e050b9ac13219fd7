"""Keyset pages read as bounded windows of an indexed, ordered key, newest first.

On SecantusDB (the local MongoDB stand-in) a query costs every document its index range
holds, whatever its ``sort`` or ``limit``: ``find(filter).sort(key).limit(n)`` reads and
sorts every match, and a range open on one side reads to the end of the collection. So
a page is read as a series of windows ``(lo, hi]`` on the key, each bounded on both
sides, walking down from the newest key: the first window is sized from the density the
previous walk saw (the rows per unit of key), the next ones from the density seen so far
(at most four times wider each step, four times wider after an empty window), until the
windows hold the rows wanted or reach the floor. The cost is O(rows read), which is the
page plus the overshoot of the last window, never O(collection).

Filters other than the key's index prefix are applied here, in Python
(:func:`matcher`): on SecantusDB an (equality, range) read of a compound index with any
further field in the filter scans the whole collection.

Keys are integers here (microseconds of a time, a numeric id); callers map them to the
stored values. Lower bounds are exclusive and upper bounds inclusive on purpose:
SecantusDB reads ``$gte`` as ``$gt`` on the range field of an (equality, range) compound
index, while ``$gt`` and ``$lte`` are exact there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Fetch = Callable[[int, int], Awaitable[list[dict[str, Any]]]]
"""Read the documents whose key lies in ``(lo, hi]``, in any order."""

GROWTH = 4
"""How much wider a window may be than the one before it."""
MARGIN = 1.25
"""Windows sized from a density aim this much past the rows still missing."""


_ORIGIN = datetime(1, 1, 1)
_MICRO = timedelta(microseconds=1)
LAST_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - _ORIGIN) // _MICRO
"""The key of the last representable time."""


def micros(stamp: str) -> int:
    """An ISO 8601 time (naive UTC, or with an offset) as a key: microseconds since 0001-01-01.

    Raises ``ValueError`` when ``stamp`` is not ISO 8601.
    """
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _ORIGIN) // _MICRO


def stamp(key: int) -> str:
    """Inverse of :func:`micros` as ``YYYY-MM-DDTHH:MM:SS.ffffff`` (how times are stored,
    sortable as text), clamped to the representable years."""
    key = max(0, min(key, LAST_MICROS))
    return (_ORIGIN + timedelta(microseconds=key)).isoformat(timespec="microseconds")


def matcher(residual: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A test of a document against ``residual``: per field a value (equality) or
    ``{"$in": [values]}``; an empty ``residual`` matches everything."""
    equal: list[tuple[str, Any]] = []
    among: list[tuple[str, list[Any]]] = []
    for field, wanted in residual.items():
        if isinstance(wanted, dict):
            if set(wanted) != {"$in"}:
                raise ValueError(f"{field}: only a value or $in is supported, not {wanted!r}")
            among.append((field, list(wanted["$in"])))
        else:
            equal.append((field, wanted))

    def matches(doc: dict[str, Any]) -> bool:
        return all(doc.get(f) == v for f, v in equal) and all(doc.get(f) in vs for f, vs in among)

    return matches


class Walk:
    """The rows a walk kept, in order, and what it learnt."""

    __slots__ = ("covered", "density", "low", "rows", "seen")

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        """The rows read after the first ``skip``."""
        self.seen = 0
        """Every row read, skipped ones included."""
        self.covered = False
        """Whether the windows reached the floor: then ``rows`` is every match."""
        self.density = 0.0
        """Rows per unit of key over the span read (0 when nothing was found)."""
        self.low = 0
        """The exclusive lower end of the span read."""


async def walk_down(
    fetch: Fetch,
    *,
    top: int,
    floor: int,
    need: int,
    order: Callable[[dict[str, Any]], Any],
    density: float = 0.0,
    first_width: int = 1,
    skip: int = 0,
    descending: bool = True,
    slice_rows: int | None = None,
    between: Callable[[], Awaitable[None]] | None = None,
) -> Walk:
    """Read windows ``(lo, hi]`` downward from ``top`` until ``need`` rows or ``floor``.

    ``floor`` is exclusive (nothing at or below it is read). ``order`` sorts one window's
    rows (``descending``, or ascending for a caller walking a negated key); windows are
    disjoint and read top-down, so the concatenation is in order. The first ``skip`` rows
    are counted, not kept (a page by number). ``density`` (rows per unit of key, e.g. from
    the previous walk) sizes the first window; without one it is ``first_width`` wide.
    ``slice_rows`` caps a window at about that many rows once a density is known, and
    ``between`` is awaited between two windows (pacing, see :mod:`kubeward.core.ingest_first`).
    """
    walk = Walk()
    hi = top
    width = _width(need, density, first_width)
    while hi > floor:
        if between is not None and hi < top:
            await between()
        if slice_rows is not None:
            rate = walk.seen / (top - hi) if walk.seen else density
            if rate > 0:
                width = min(width, max(1, int(slice_rows / rate)))
        lo = max(floor, hi - width)
        found = await fetch(lo, hi)
        found.sort(key=order, reverse=descending)
        dropped = min(len(found), max(0, skip - walk.seen))
        walk.rows.extend(found[dropped:] if dropped else found)
        walk.seen += len(found)
        walk.low = lo
        if lo <= floor:
            walk.covered = True
        if walk.seen >= need or walk.covered:
            break
        hi = lo
        if walk.seen:
            seen = walk.seen / (top - lo)
            width = min(_width(need - walk.seen, seen, width), width * GROWTH)
        else:
            width *= GROWTH
    else:
        walk.covered = True
        walk.low = floor
    if walk.seen and top > walk.low:
        walk.density = walk.seen / (top - walk.low)
    return walk


def _width(missing: int, density: float, fallback: int) -> int:
    if density <= 0:
        return max(1, fallback)
    return max(1, int(missing * MARGIN / density) + 1)
