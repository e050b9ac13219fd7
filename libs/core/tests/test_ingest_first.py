"""While reports arrive, listings are read one at a time with a bounded share of the time
(issue 14, "no stall"); with none arriving they go at once."""

from __future__ import annotations

import asyncio
import itertools
import time

from nats.aio.msg import Msg

from kubeward.core.ingest_first import IngestFirst


async def read_page(gate: IngestFirst, seconds: float, log: list[tuple[float, float]]) -> None:
    """A listing that reads for ``seconds``; logs when it read. (The sleep stands for the
    read itself: what the gate paces is wall time.)"""
    async with gate.listing():
        began = time.monotonic()
        await asyncio.sleep(seconds)
        log.append((began, time.monotonic()))


async def test_without_reports_pages_are_read_at_once_and_side_by_side() -> None:
    gate = IngestFirst(limit=60)
    log: list[tuple[float, float]] = []
    await asyncio.wait_for(asyncio.gather(*(read_page(gate, 0.2, log) for _ in range(3))), 0.5)
    assert len(log) == 3


async def test_while_reports_arrive_pages_take_turns_with_a_bounded_share() -> None:
    gate = IngestFirst(limit=60, share=1 / 3)
    async with gate.ingesting():  # a batch in hand meanwhile
        log: list[tuple[float, float]] = []
        await asyncio.wait_for(asyncio.gather(*(read_page(gate, 0.1, log) for _ in range(3))), 5)
        log.sort()
        for (_, end), (begin, _) in itertools.pairwise(log):
            assert begin - end >= 0.19  # a page of 0.1 s, then at least 0.2 s for ingest


async def test_a_page_never_waits_longer_than_the_limit() -> None:
    gate = IngestFirst(limit=0.2, share=0.001)  # pages would wait ~1000x their time
    async with gate.ingesting():  # a batch in hand meanwhile
        log: list[tuple[float, float]] = []
        await read_page(gate, 0.1, log)
        started = time.monotonic()
        await read_page(gate, 0.0, log)
        assert time.monotonic() - started < 5  # ~0.2 s, not ~100 s


async def read_in_slices(gate: IngestFirst, slices: int, seconds: float) -> list[float]:
    """A listing read as ``slices`` reads of ``seconds`` each (sleeps standing for the
    reads); the pauses between them."""
    pauses: list[float] = []
    async with gate.listing() as pace:
        assert pace.slice_rows is not None
        for n in range(slices):
            if n:
                began = time.monotonic()
                await pace.step()
                pauses.append(time.monotonic() - began)
            await asyncio.sleep(seconds)
    return pauses


async def test_while_reports_arrive_a_page_is_read_in_slices_with_pauses_between() -> None:
    gate = IngestFirst(limit=60, share=1 / 3)
    async with gate.listing() as pace:
        assert pace.slice_rows is None  # idle: read whole
    async with gate.ingesting():  # a batch in hand meanwhile
        pauses = await read_in_slices(gate, 3, 0.05)
        assert len(pauses) == 2 and all(p >= 0.095 for p in pauses)  # 2x each 0.05 s slice


async def test_the_pauses_of_a_sliced_page_stay_within_the_limit() -> None:
    gate = IngestFirst(limit=0.3, share=0.001)  # each pause would be ~1000x the slice
    async with gate.ingesting():  # a batch in hand meanwhile
        pauses = await read_in_slices(gate, 4, 0.01)
        assert sum(pauses) < 1.0  # ~0.3 s in all, not ~30 s


async def test_a_counted_handler_is_ingest_while_it_runs_and_keeps_its_payload() -> None:
    gate = IngestFirst(limit=60)
    seen: list[bool] = []

    class Handler:
        payload = int

        async def __call__(self, msgs: list[Msg]) -> None:
            seen.append(gate.active())

    counted = gate.counting(Handler())
    assert counted.payload is int  # the bus contract reads it
    assert not gate.active()
    await counted([])
    assert seen == [True] and gate.active()  # and for RECENT seconds after
