"""A minimal HTTP/1.1 GET client on asyncio streams (httpx costs more CPU per request than
the servers under test; ``wrk`` is not assumed), and the bare Litestar app of
``bench/bare_app.py`` that GET figures are compared with."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import BenchError, Stack
from kubeward.devstack.procs import Proc, free_port, http_ok

SESSION_COOKIE = "kure_session"
"""The gateway's session cookie."""
BARE_APP = Path(__file__).resolve().parent / "bare_app.py"

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def get_request(port: int, path: str, cookie: str) -> bytes:
    """A keep-alive ``GET path`` to ``127.0.0.1:port`` with the session cookie."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {SESSION_COOKIE}={cookie}\r\nAccept: application/json\r\n\r\n"
    ).encode()


def response_head(head: bytes) -> tuple[int, int]:
    """(status, content length) of an HTTP/1.1 response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value.strip())
    raise BenchError(f"response without Content-Length: {head[:200]!r}")


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[Streams]:
    """A connection to ``127.0.0.1:port`` for the block."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def exchange(streams: Streams, request: bytes) -> tuple[int, bytes, bytes]:
    """Send ``request``, read the whole answer: (status, head, body)."""
    reader, writer = streams
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = response_head(head)
    return status, head, await reader.readexactly(length)


@dataclass
class BareApp:
    """The bare Litestar app, started on a free port."""

    proc: Proc
    port: int

    def wait(self) -> None:
        """Wait until it answers on ``/hello``."""
        url = f"http://127.0.0.1:{self.port}/hello"
        self.proc.wait_until(lambda: http_ok(url), 60, "an answer on /hello")


def start_bare_app(stack: Stack, name: str) -> BareApp:
    """Start the bare app as ``name``, tracked by ``stack``; :meth:`BareApp.wait` for it."""
    port = free_port()
    command = [sys.executable, str(BARE_APP), str(port)]
    return BareApp(stack.track(Proc(name, command, stack.logs / "bare.log").start()), port)
