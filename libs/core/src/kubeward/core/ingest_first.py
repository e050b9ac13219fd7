"""Ingest before listings: while a service stores incoming batches, its dashboards' pages
get a bounded share.

A 1000-row page is megabytes read from MongoDB, converted and relayed; on a small machine
the database and CPU it takes are the ones the ingest path needs. Four dashboards polling
while agents reported made ingest's p99 3-15x its value alone (issue 14, "no stall").

While a batch is in hand (:meth:`IngestFirst.ingesting`), or was within :data:`RECENT`
seconds, the service reads one page at a time, in slices of about :data:`SLICE_ROWS` rows
(one read of a whole page holds the database for tens of ms, and every write waiting
behind it waits that long), and after a slice that took ``t`` seconds the next one starts
no sooner than ``t * (1 / share - 1)`` later (``share`` 1/3: pages get at most a third of
the time); a page waits at most ``limit`` seconds in all. With nothing arriving, pages are
read at once, whole and side by side. failure-analyzer paces failed-pod pages by its
reports, security findings pages by its scans and findings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

RECENT = 1.0
"""Seconds after the last batch during which ingest counts as active."""
SLICE_ROWS = 100
"""About how many rows one read of a page holds while ingest is active."""


class Pace:
    """One page's reads: how wide a read may be, and the wait between reads."""

    def __init__(self, owner: IngestFirst | None, budget: float) -> None:
        self._owner = owner
        self._budget = budget
        self._began = time.monotonic()
        self.slice_rows = SLICE_ROWS if owner is not None else None
        """About how many rows one read may hold (``None``: no limit)."""

    def _rest(self) -> float:
        """How long to wait after the read that began at ``_began``."""
        assert self._owner is not None
        took = time.monotonic() - self._began
        return took * (1 / self._owner.share - 1)

    async def step(self) -> None:
        """Between two reads of the page: wait out ingest's share of the time."""
        owner = self._owner
        if owner is not None and owner.active():
            delay = min(self._rest(), self._budget)
            if delay > 0:
                self._budget -= delay
                await asyncio.sleep(delay)
        self._began = time.monotonic()

    def finish(self) -> None:
        """After the page's last read: when the next page may start."""
        if self._owner is not None:
            self._owner.next_page = time.monotonic() + self._rest()


class IngestFirst:
    """Tracks ingest batches; paces listings while there are any."""

    def __init__(self, limit: float, share: float = 1 / 3) -> None:
        self.limit = limit
        self.share = share
        self.next_page = 0.0
        """When the next page may start reading (while ingest is active)."""
        self._busy = 0
        self._last_batch = -RECENT
        self._pages = asyncio.Lock()

    def active(self) -> bool:
        """Whether a batch is being stored, or was within :data:`RECENT` seconds."""
        return self._busy > 0 or time.monotonic() - self._last_batch < RECENT

    @contextlib.asynccontextmanager
    async def ingesting(self) -> AsyncIterator[None]:
        """Around the storing of one batch."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._last_batch = time.monotonic()

    def counting(self, handler: Callable[[list[Msg]], Awaitable[None]]) -> Ingesting:
        """``handler`` (a batch handler), each call of it inside :meth:`ingesting`."""
        return Ingesting(self, handler)

    @contextlib.asynccontextmanager
    async def listing(self) -> AsyncIterator[Pace]:
        """Around the reading of one page: waits its turn while ingest is active; the
        :class:`Pace` says how the page is read."""
        if self.limit <= 0 or not self.active():
            yield Pace(None, 0.0)
            return
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._pages.acquire(), self.limit)
        except TimeoutError:
            yield Pace(None, 0.0)  # waited long enough: read anyway
            return
        try:
            budget = self.limit - (time.monotonic() - started)
            delay = min(self.next_page - time.monotonic(), budget)
            if delay > 0 and self.active():
                await asyncio.sleep(delay)
                budget -= delay
            pace = Pace(self, max(0.0, budget))
            yield pace
            pace.finish()
        finally:
            self._pages.release()


class Ingesting:
    """A batch handler whose batches count as ingest for an :class:`IngestFirst`; names
    the same ``payload`` type as the handler it wraps (the bus contract reads it)."""

    def __init__(self, gate: IngestFirst, handler: Callable[[list[Msg]], Awaitable[None]]) -> None:
        self._gate = gate
        self._handler = handler
        self.payload: Any = getattr(handler, "payload", None)

    async def __call__(self, msgs: list[Msg]) -> None:
        """The wrapped handler's call, counted."""
        async with self._gate.ingesting():
            await self._handler(msgs)
