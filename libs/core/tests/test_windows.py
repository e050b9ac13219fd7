"""The window walker: what it reads and returns, over keys held in memory.

The database side (that each window is one bounded indexed range on SecantusDB) is tested
with the stores that use it; here the walk's arithmetic: windows disjoint and covering,
order, skip, the floor, and how many rows it reads for a page.
"""

from __future__ import annotations

import random
from typing import Any

from kubeward.core.windows import matcher, micros, stamp, walk_down
from kubeward.devstack.testing import CountedCalls


class Keys:
    """Documents ``{"k": key}`` and a fetch over them that records every window read."""

    def __init__(self, keys: list[int]) -> None:
        self.docs = [{"k": k, "n": i} for i, k in enumerate(keys)]
        self.windows: list[tuple[int, int]] = []
        self.read = 0

    async def fetch(self, lo: int, hi: int) -> list[dict[str, Any]]:
        self.windows.append((lo, hi))
        found = [d for d in self.docs if lo < d["k"] <= hi]
        self.read += len(found)
        return found


def order(doc: dict[str, Any]) -> tuple[int, int]:
    return doc["k"], doc["n"]


async def test_pages_cover_every_row_once_in_order() -> None:
    rng = random.Random(3)
    keys = [rng.randrange(1, 10**9) for _ in range(300)] + [5000] * 7  # ties too
    keys += [rng.randrange(10**12, 10**12 + 100) for _ in range(20)]  # a far-off burst
    data = Keys(keys)
    want = sorted(data.docs, key=order, reverse=True)
    top, got = max(keys), []
    for page in range(len(keys) // 13 + 2):
        walk = await walk_down(
            data.fetch, top=top, floor=0, need=(page + 1) * 13, order=order, skip=page * 13
        )
        got += walk.rows[:13]
    assert got == want
    for lo, hi in data.windows:
        assert 0 <= lo < hi <= top


async def test_a_remembered_density_reads_about_one_page() -> None:
    data = Keys(list(range(0, 1_000_000, 10)))  # one row per 10 keys
    first = await walk_down(data.fetch, top=999_990, floor=-1, need=101, order=order)
    assert len(first.rows) >= 101 and not first.covered
    data.read = 0
    data.windows.clear()
    again = await walk_down(
        data.fetch, top=999_990, floor=-1, need=101, order=order, density=first.density
    )
    assert [d["k"] for d in again.rows[:101]] == list(range(999_990, 999_990 - 1010, -10))
    assert len(data.windows) == 1
    assert 101 <= data.read <= 140  # the page and its margin, not the 100 000 rows


async def test_the_floor_ends_the_walk_and_marks_it_covered() -> None:
    data = Keys([1, 2, 3, 50, 51])
    walk = await walk_down(data.fetch, top=51, floor=2, need=100, order=order)
    assert [d["k"] for d in walk.rows] == [51, 50, 3]
    assert walk.covered
    empty = await walk_down(data.fetch, top=2, floor=2, need=10, order=order)
    assert empty.rows == [] and empty.covered


async def test_ascending_walks_negated_keys() -> None:
    data = Keys([5, 1, 9, 3, 7])

    async def fetch(lo: int, hi: int) -> list[dict[str, Any]]:  # (lo, hi] of -k
        return [d for d in data.docs if lo < -d["k"] <= hi]

    walk = await walk_down(fetch, top=-1, floor=-10, need=3, order=order, descending=False)
    assert [d["k"] for d in walk.rows][:3] == [1, 3, 5]


def test_matcher_and_time_keys() -> None:
    match = matcher({"a": 1, "b": {"$in": ["x", "y"]}})
    assert match({"a": 1, "b": "y"})
    assert not match({"a": 1, "b": "z"})
    assert not match({"b": "x"})
    assert matcher({})({"anything": 1})
    moment = "2026-05-12T10:00:00.000001"
    assert stamp(micros(moment)) == moment
    assert stamp(micros(moment) - 1) == "2026-05-12T10:00:00.000000"
    assert micros("2026-05-12T12:00:00+02:00") == micros("2026-05-12T10:00:00.000000")


async def test_a_sliced_walk_reads_the_same_rows_in_small_windows_with_pauses() -> None:
    """While ingest is active a page is read in slices (``kubeward.core.ingest_first``):
    the same rows in the same order, no window past about ``slice_rows`` rows once a
    density is known, and ``between`` awaited between windows."""
    keys = list(range(0, 100_000, 10))  # one row per 10 keys
    whole = await walk_down(Keys(keys).fetch, top=99_990, floor=-1, need=300, order=order)
    data, pauses = Keys(keys), CountedCalls()

    sliced = await walk_down(
        data.fetch,
        top=99_990,
        floor=-1,
        need=300,
        order=order,
        density=whole.density,
        slice_rows=30,
        between=pauses,
    )
    assert [d["k"] for d in sliced.rows[:300]] == [d["k"] for d in whole.rows[:300]]
    rows_per_window = [len([k for k in keys if lo < k <= hi]) for lo, hi in data.windows]
    assert max(rows_per_window) <= 30
    assert len(data.windows) >= 10 and pauses.count == len(data.windows) - 1
