"""Watch streams (``?watch=true``) as an async generator of decoded events.

The generator reads the aiohttp response itself, on the event loop: no thread. Leaving it
(end, error, cancellation, ``aclose``) closes the response, which drops the connection at
once. The caller relists and watches again after the stream ends: the server closes a
watch after ``timeout_seconds``, an ``ERROR`` event (410 Gone: the resource version is too
old) ends it too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from kubeward.kube.client import KubeClient

READ_SIZE = 64 * 1024
"""Bytes taken from the response's buffer per read (at most)."""
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
    ``timeout_seconds`` plus :data:`READ_SLACK_SECONDS` (``TimeoutError``); raises what the
    call raises. Use it under ``contextlib.aclosing`` so that leaving early closes the
    stream at once rather than when the generator is collected.
    """
    if resource_version:
        kwargs["resource_version"] = resource_version
    response = await kube.open(
        method,
        *args,
        watch=True,
        allow_watch_bookmarks=True,
        timeout_seconds=timeout_seconds,
        read_timeout=timeout_seconds + READ_SLACK_SECONDS,
        **kwargs,
    )
    try:
        pending = b""
        while chunk := await response.content.read(READ_SIZE):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    yield _event.decode(line)
    finally:
        # A half-read stream cannot go back to the pool: close() drops the connection and
        # tells the server it may stop.
        response.close()
