"""Spawned child processes that talk to the benchmark over a pipe: starting and always
stopping them, and waiting for their messages without a thread.

A child's entry point takes ``(conn, job)``; it runs its coroutine with :func:`child_main`
and answers with tagged tuples that :meth:`Child.expect` checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Coroutine, Iterator
from multiprocessing.connection import Connection
from typing import Any

from bench.common import BenchError

_SPAWN = multiprocessing.get_context("spawn")


async def readable(conn: Connection, timeout: float | None = None) -> bool:
    """Wait until ``conn`` has a message (or EOF) without a thread; ``False`` on timeout.

    A thread blocked in ``Connection.recv``/``poll`` would keep ``asyncio.run`` from
    returning after Ctrl-C or SIGTERM (it joins its executor), so the loop watches the
    pipe's file descriptor instead.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: None if ready.done() else ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def child_main(body: Coroutine[Any, Any, None]) -> None:
    """Run a child's coroutine; Ctrl-C, SIGTERM's unwinding and a closed pipe end it quietly
    (the parent reports what is missing)."""
    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(body)


class Child:
    """A child Python process (spawned) and the parent's end of its pipe."""

    def __init__(self, name: str, target: Callable[..., None], job: object) -> None:
        self.name = name
        self.conn, child_end = _SPAWN.Pipe()
        self.process = _SPAWN.Process(target=target, args=(child_end, job), name=name, daemon=True)
        self.process.start()
        child_end.close()

    async def expect(self, tag: str, timeout: float) -> tuple[Any, ...]:
        """The next message, which must be tagged ``tag``, within ``timeout`` seconds."""
        if not await readable(self.conn, timeout):
            raise BenchError(f"{self.name}: no {tag!r} within {timeout:.0f}s")
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            raise BenchError(f"{self.name} exited (code {self.process.exitcode})") from None
        if message[0] != tag:
            raise BenchError(f"{self.name}: expected {tag!r}, got {message[0]!r}")
        return message

    def send(self, *message: object) -> None:
        """Send a command."""
        self.conn.send(message)

    def stop(self) -> None:
        """Close the pipe (a waiting child then exits), wait briefly, terminate, kill."""
        self.conn.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


@contextlib.contextmanager
def children(count: int, make: Callable[[int], Child]) -> Iterator[list[Child]]:
    """Start ``count`` children; always stop all of them."""
    started: list[Child] = []
    try:
        for index in range(count):
            started.append(make(index))
        yield started
    finally:
        for child in started:
            child.stop()
