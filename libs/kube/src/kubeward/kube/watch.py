"""Watch streams (``?watch=true``) as an async iterator of decoded events.

The official client's ``watch.Watch`` blocks a thread and cannot be stopped from outside.
Here a daemon thread reads the raw stream line by line and hands each event to the event
loop; leaving the iterator (end, error, cancellation) shuts the socket down, which ends
the thread's blocking read at once, and closes the connection. The caller relists and
watches again after the stream ends: the server closes a watch after ``timeout_seconds``,
an ``ERROR`` event (410 Gone: the resource version is too old) ends it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from kubeward.kube.client import KubeClient

_END = object()
READ_SLACK_SECONDS = 15.0
"""How long past ``timeout_seconds`` a silent stream is given before it counts as dead
(servers that ignore ``timeoutSeconds`` keep it open: the read timeout ends it)."""


class WatchEvent(msgspec.Struct):
    """One line of a watch stream."""

    type: str
    """``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` or ``ERROR``."""
    object: dict[str, Any] = {}


_event = msgspec.json.Decoder(WatchEvent)


async def watch(
    kube: KubeClient,
    method: Callable[..., Any],
    /,
    *args: Any,
    resource_version: str | None,
    timeout_seconds: int,
    **kwargs: Any,
) -> AsyncGenerator[WatchEvent, None]:
    """The events of ``method`` (a list call) from ``resource_version`` on.

    Ends when the server ends the watch or the stream stays silent past
    ``timeout_seconds`` plus :data:`READ_SLACK_SECONDS`; raises what the call raises. Use it
    under ``contextlib.aclosing`` so that leaving early closes the stream at once.
    """
    if resource_version:
        kwargs["resource_version"] = resource_version
    response = await asyncio.to_thread(
        method,
        *args,
        watch=True,
        allow_watch_bookmarks=True,
        timeout_seconds=timeout_seconds,
        _preload_content=False,
        _request_timeout=(kube.timeout[0], timeout_seconds + READ_SLACK_SECONDS),
        **kwargs,
    )
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def hand_over(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        buffer = b""
        try:
            for chunk in response.stream(64 * 1024):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        hand_over(line)
            hand_over(_END)
        except BaseException as exc:
            hand_over(exc)

    threading.Thread(target=pump, name="kube-watch", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield _event.decode(item)
    finally:
        # shutdown() ends the thread's blocking read; close() drops the connection (a
        # half-read stream cannot go back to the pool) and tells the server it may stop.
        with contextlib.suppress(Exception):
            response.shutdown()
        with contextlib.suppress(Exception):
            response.close()
