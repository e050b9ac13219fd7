"""Many feed clients in one receiver process: opening them, reading their frames into an
arrival table, the receiver's conversation with the benchmark, and closing them.

A receiver process (see :mod:`bench.children`) opens its clients, says ``ready``, waits
until each has seen a warm-up frame (``warm``), then on the benchmark's ``collect`` command
waits up to the given seconds for the measured frames and sends its ``result``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from bench.children import Child, children, readable

CONNECT_PARALLEL = 64
"""Connections each receiver process opens at a time."""


class Closable(Protocol):
    """A client connection: a WebSocket or a NATS connection."""

    async def close(self) -> None:
        """Close the connection."""


class Arrivals(ABC):
    """One value per (client, slot) received by one process, and the client counts that
    have seen a warm-up frame and every slot; subclasses decode frames into slots."""

    def __init__(self, clients: int, width: int) -> None:
        self.width = width
        """Slots per client."""
        self.ns = array("q", [-1]) * (clients * width)
        self.got = [0] * clients
        self.warm = [False] * clients
        self.connected = 0
        self.warmed = 0
        self.complete = 0
        self.closed = 0
        self.all_warm = asyncio.Event()
        self.all_done = asyncio.Event()

    @abstractmethod
    def frame(self, client: int, raw: bytes | str, now: int) -> None:
        """Record one received frame (``now``: ``time.time_ns()`` on arrival)."""

    def warm_over(self) -> None:  # noqa: B027  # optional hook: most tallies need none
        """The warm-up is over: the measured frames follow."""

    @abstractmethod
    def result(self, cpu: float) -> tuple[object, ...]:
        """The ``result`` message; ``cpu``: the process's CPU seconds since the warm-up."""

    def warmed_up(self, client: int) -> None:
        """``client`` saw a warm-up frame."""
        if not self.warm[client]:
            self.warm[client] = True
            self.warmed += 1
            if self.warmed >= self.connected:
                self.all_warm.set()

    def record(self, client: int, slot: int, value: int) -> None:
        """Keep ``value`` for ``client``'s ``slot`` unless it has one already."""
        at = client * self.width + slot
        if self.ns[at] < 0:
            self.ns[at] = value
            self.got[client] += 1
            if self.got[client] == self.width:
                self.complete += 1
                if self.complete >= self.connected:
                    self.all_done.set()


async def open_ws(
    url: str, deflate: bool, index: int, gate: asyncio.Semaphore, failures: list[str]
) -> tuple[int, ClientConnection] | None:
    """Client ``index``'s connection to ``url`` (at most ``gate`` opening at once), or
    ``None`` with the reason added to ``failures``."""
    async with gate:
        try:
            ws = await ws_connect(
                url,
                compression="deflate" if deflate else None,
                open_timeout=60,
                ping_interval=None,
                max_queue=64,
                max_size=None,
            )
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return None
    return index, ws


async def open_ws_clients(
    url: str, deflate: bool, count: int, failures: list[str]
) -> list[tuple[int, ClientConnection]]:
    """``count`` clients of ``url``, :data:`CONNECT_PARALLEL` opening at once; those that
    opened, with their indexes (the others' reasons are added to ``failures``)."""
    gate = asyncio.Semaphore(CONNECT_PARALLEL)
    opened = await asyncio.gather(*(open_ws(url, deflate, i, gate, failures) for i in range(count)))
    return [c for c in opened if c is not None]


async def read_frames(ws: ClientConnection, index: int, arrivals: Arrivals) -> None:
    """Every frame client ``index`` receives, into ``arrivals``, until the socket closes."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            arrivals.frame(index, raw, time.time_ns())
    arrivals.closed += 1


async def _close(client: Closable) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), 5)


@contextlib.contextmanager
def receivers(
    name: str, target: Callable[..., None], clients: int, procs: int, job: Callable[[int], object]
) -> Iterator[list[Child]]:
    """``clients`` spread evenly over at most ``procs`` receiver processes ``target``, named
    ``name #i``, for the block; ``job(n)`` is the job of one with ``n`` clients."""
    count = max(1, min(procs, clients))
    sizes = [clients // count + (i < clients % count) for i in range(count)]
    with children(count, lambda i: Child(f"{name} #{i}", target, job(sizes[i]))) as workers:
        yield workers


async def all_ready(workers: Sequence[Child]) -> list[tuple[Any, ...]]:
    """Every receiver's ``ready``: (tag, clients connected, failures, connect seconds)."""
    return [await w.expect("ready", 180) for w in workers]


async def collect(workers: Sequence[Child], settle: float) -> list[tuple[Any, ...]]:
    """Tell every receiver to wait up to ``settle`` seconds for the measured frames; their
    ``result`` messages."""
    for w in workers:
        w.send("collect", settle)
    return [await w.expect("result", settle + 60) for w in workers]


async def converse(
    conn: Connection,
    arrivals: Arrivals,
    live: Sequence[tuple[int, Closable]],
    readers: Sequence[asyncio.Task[None]],
    failures: list[str],
    connect_seconds: float,
    warm_timeout: float,
) -> None:
    """The receiver's side once its clients are open: ``ready``, ``warm``, then on
    ``collect`` :meth:`Arrivals.result`; the readers and clients are closed whatever
    happens."""
    conn.send(("ready", len(live), failures[:3], connect_seconds))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.all_warm.wait(), warm_timeout)
        conn.send(("warm", arrivals.warmed))
        arrivals.warm_over()
        cpu = time.process_time()
        await readable(conn)
        settle = float(conn.recv()[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.all_done.wait(), settle)
        conn.send(arrivals.result(time.process_time() - cpu))
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(_close(c) for _i, c in live), return_exceptions=True)
