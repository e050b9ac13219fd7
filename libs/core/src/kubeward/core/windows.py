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

Keys are integers here (microseconds of a time, a numeric id); callers map them to the
stored values. Lower bounds are exclusive and upper bounds inclusive on purpose:
SecantusDB reads ``$gte`` as ``$gt`` on the range field of an (equality, range) compound
index, while ``$gt`` and ``$lte`` are exact there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Fetch = Callable[[int, int], Awaitable[list[dict[str, Any]]]]
"""Read the documents whose key lies in ``(lo, hi]``, in any order."""

GROWTH = 4
"""How much wider a window may be than the one before it."""
MARGIN = 1.25
"""Windows sized from a density aim this much past the rows still missing."""


class Walk:
    """The rows a walk read, newest first, and what it learnt."""

    __slots__ = ("covered", "density", "low", "rows")

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
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
) -> Walk:
    """Read windows ``(lo, hi]`` downward from ``top`` until ``need`` rows or ``floor``.

    ``floor`` is exclusive (nothing at or below it is read). ``order`` sorts one window's
    rows; windows are disjoint and read top-down, so the concatenation is in order.
    ``density`` (rows per unit of key, e.g. from the previous walk) sizes the first
    window; without one it is ``first_width`` wide.
    """
    walk = Walk()
    hi = top
    width = _width(need, density, first_width)
    while hi > floor:
        lo = max(floor, hi - width)
        found = await fetch(lo, hi)
        found.sort(key=order, reverse=True)
        walk.rows.extend(found)
        walk.low = lo
        if lo <= floor:
            walk.covered = True
        if len(walk.rows) >= need or walk.covered:
            break
        hi = lo
        if walk.rows:
            seen = len(walk.rows) / (top - lo)
            width = min(_width(need - len(walk.rows), seen, width), width * GROWTH)
        else:
            width *= GROWTH
    else:
        walk.covered = True
        walk.low = floor
    if walk.rows and top > walk.low:
        walk.density = len(walk.rows) / (top - walk.low)
    return walk


def _width(missing: int, density: float, fallback: int) -> int:
    if density <= 0:
        return max(1, fallback)
    return max(1, int(missing * MARGIN / density) + 1)
