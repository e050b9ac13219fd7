"""Integer ids handed out from blocks reserved ahead, so that most batches of new records
need no counter round trip.

:func:`kubeward.core.mongo.reserve_ids` costs a database round trip per call (a
``find_one_and_update`` on the counter). A writer that creates records one small batch at
a time pays it on every batch, before its insert. :class:`IdBlocks` reserves more ids
than asked for, and hands the rest to the next batches:

- A block grows (doubling, up to ``largest``) while each one is used up within
  ``max_age``; it shrinks back (halving) when one expires with ids left over. A steady
  stream of new records thus costs one reservation per block, and a writer that creates
  a record now and then reserves one id at a time, as before, and leaves no gaps.
- Ids left in a block older than ``max_age`` are dropped, never handed out: ids follow
  creation time across writers (pages list newest first by id), to within ``max_age``.

Ids dropped that way, or lost with a crash, leave gaps in the sequence; nothing reads the
ids as a count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import mongo
from kubeward.core.mongo import Document

MAX_AGE_SECONDS = 1.0
"""How long ids reserved ahead stay usable."""
LARGEST_BLOCK = 256
"""The most ids one reservation takes."""


class IdBlocks:
    """Ids of one counter for one process; safe for concurrent tasks of its event loop."""

    def __init__(
        self,
        counters: AsyncCollection[Document],
        name: str,
        *,
        max_age: float = MAX_AGE_SECONDS,
        largest: int = LARGEST_BLOCK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._name = name
        self._max_age = max_age
        self._largest = largest
        self._clock = clock
        self._lock = asyncio.Lock()
        self._next = 0
        self._end = 0
        """The ids in hand: ``range(_next, _end)``."""
        self._reserved_at = 0.0
        self._block = 1
        """One more than the ids beyond the request the next reservation takes (adapts,
        see the module)."""
        self.reservations = 0
        """Counter round trips made so far."""

    async def take(self, count: int) -> list[int]:
        """``count`` new ids, increasing, higher than any this process handed out before."""
        if count <= 0:
            return []
        async with self._lock:
            now = self._clock()
            if now - self._reserved_at > self._max_age:
                if self._next < self._end:  # expired unused: reserve fewer next time
                    self._block = max(1, self._block // 2)
                self._next = self._end = 0
            if self._end - self._next < count:
                if self._end:  # used up in time: reserve more next time
                    self._block = min(self._largest, self._block * 2)
                ids = await mongo.reserve_ids(self._counters, self._name, count + self._block - 1)
                self.reservations += 1
                self._next, self._end = ids.start, ids.stop
                self._reserved_at = now
            taken = list(range(self._next, self._next + count))
            self._next += count
            return taken
