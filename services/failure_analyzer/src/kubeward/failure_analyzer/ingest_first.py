"""Reports before listings: while reports arrive, dashboards' pages get a bounded share.

A 1000-row page is ~7 MB read from MongoDB, converted and relayed; on a small machine the
database and CPU it takes are the ones the report path needs. Four dashboards polling
while agents reported made ingest's p99 3-15x its value alone (issue 14, "no stall").

While a report batch is in hand, or was within :data:`RECENT` seconds, this replica
reads one page at a time, and after a page that took ``t`` seconds the next one starts no
sooner than ``t * (1 / share - 1)`` later (``share`` 1/3: pages get at most a third of
the time), never waiting more than ``limit`` seconds. With no reports arriving, pages are
read at once and side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

RECENT = 1.0
"""Seconds after the last report batch during which ingest counts as active."""


class IngestFirst:
    """Tracks report batches; paces listings while there are any."""

    def __init__(self, limit: float, share: float = 1 / 3) -> None:
        self.limit = limit
        self.share = share
        self._busy = 0
        self._last_batch = -RECENT
        self._next_page = 0.0
        self._pages = asyncio.Lock()

    def _active(self) -> bool:
        return self._busy > 0 or time.monotonic() - self._last_batch < RECENT

    @contextlib.asynccontextmanager
    async def ingesting(self) -> AsyncIterator[None]:
        """Around the storing of one report batch."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._last_batch = time.monotonic()

    @contextlib.asynccontextmanager
    async def listing(self) -> AsyncIterator[None]:
        """Around the reading of one page: waits its turn while ingest is active."""
        if self.limit <= 0 or not self._active():
            yield
            return
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._pages.acquire(), self.limit)
        except TimeoutError:
            yield  # waited long enough: read anyway
            return
        try:
            delay = min(
                self._next_page - time.monotonic(), self.limit - (time.monotonic() - started)
            )
            if delay > 0 and self._active():
                await asyncio.sleep(delay)
            began = time.monotonic()
            try:
                yield
            finally:
                took = time.monotonic() - began
                self._next_page = time.monotonic() + took * (1 / self.share - 1)
        finally:
            self._pages.release()
