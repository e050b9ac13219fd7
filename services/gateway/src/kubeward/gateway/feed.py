"""``WS /api/ws``: the live feed of domain events from the ``FEED`` stream.

Protocol (also in the README, "Live feed"):

- Auth: a user session (cookie ``kure_session``) or the service token as ``?token=`` (or
  the ``X-Service-Token`` / ``Authorization`` header). The socket is accepted first and
  then closed with code 4401, reason ``Not authenticated``, so browser clients can tell a
  refusal from a network error.
- Frames (text, JSON): ``{"type": ..., "data": ..., "seq": <FEED stream sequence>}``.
- ``?since=<seq>``: first the retained messages after ``seq`` (at most ``FEED_REPLAY_MAX``),
  then live ones, without gap or duplicate. When some were not retained:
  ``{"type": "resync_required", "data": {...}}`` first. Control frames carry no ``seq``.
- ``?types=a,b`` and ``?namespace=ns`` filter (see :class:`FeedFilter`). Invalid query
  values close the socket with 4400 and the reason.
- A client whose queue (``FEED_CLIENT_QUEUE``) overflows gets
  ``{"type": "lagging", "data": {"dropped_after_seq": n}}`` and close code 4008; it
  resumes with ``?since=n``. When the gateway stops, clients are closed with 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from kubeward.gateway.auth import NOT_AUTHENTICATED, authenticate_websocket
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.feed_hub import (
    LAGGING,
    WEBSOCKET_CONNECTIONS_ACTIVE,
    FeedClient,
    FeedFilter,
    FeedHub,
    control_frame,
)
from kubeward.gateway.settings import Settings

log = logging.getLogger(__name__)

FEED_PATH = "/api/ws"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_LAGGING = 4008
CLOSE_GOING_AWAY = 1001


@asynccontextmanager
async def feed_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start this process's ``FEED`` consumer (after the bus link) and stop it on shutdown."""
    settings: Settings = app.state.settings
    link: BusLink = app.state.bus
    hub = FeedHub(
        link.js, replay_max=settings.feed_replay_max, client_queue=settings.feed_client_queue
    )
    await hub.start()
    app.state.feed = hub
    try:
        yield
    finally:
        await hub.stop()


def parse_query(params: Mapping[str, str]) -> tuple[FeedFilter, int | None]:
    """``types``, ``namespace`` and ``since`` from the query; ``ValueError`` names the bad one."""
    since: int | None = None
    raw_since = params.get("since")
    if raw_since not in (None, ""):
        if not (raw_since.isascii() and raw_since.isdigit()):
            raise ValueError(f"since: {raw_since!r} is not a stream sequence")
        since = int(raw_since)
    raw_types = params.get("types")
    types = frozenset(t.strip() for t in raw_types.split(",") if t.strip()) if raw_types else None
    namespace = params.get("namespace") or None
    return FeedFilter(types=types or None, namespace=namespace), since


@websocket(FEED_PATH, opt={"public": True})
async def feed_socket(
    socket: WebSocket[Any, Any, Any],
    feed: NamedDependency[FeedHub],
    settings: NamedDependency[Settings],
) -> None:
    """Relay feed messages to one client until it leaves, lags or the gateway stops."""
    await socket.accept()
    if not await authenticate_websocket(socket):
        await socket.close(code=CLOSE_UNAUTHENTICATED, reason=NOT_AUTHENTICATED)
        return
    try:
        flt, since = parse_query(socket.query_params)
    except ValueError as exc:
        await socket.close(code=CLOSE_BAD_REQUEST, reason=str(exc)[:120])
        return
    client = await feed.attach(flt, since)
    WEBSOCKET_CONNECTIONS_ACTIVE.inc()
    try:
        await serve_client(
            socket,
            client,
            settings.feed_lag_grace_seconds,
            lambda pump: _say_lagging(socket, client, pump),
        )
    finally:
        WEBSOCKET_CONNECTIONS_ACTIVE.dec()
        feed.detach(client)


async def serve_client(
    socket: WebSocket[Any, Any, Any],
    client: FeedClient,
    grace: float,
    on_lag: Callable[[asyncio.Task[None]], Awaitable[None]],
) -> None:
    """Pump ``client``'s frames to ``socket`` until the client leaves, lags or the gateway
    stops. A lagging client gets ``on_lag(pump)`` (each feed says it its own way), a
    stopping gateway close code 1001; either within ``grace`` seconds."""
    pump = asyncio.create_task(client.pump(socket.send_text))
    reader = asyncio.create_task(until_disconnect(socket))
    lagged = asyncio.create_task(client.lagged.wait())
    tasks = (pump, reader, lagged)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if reader in done or (pump in done and pump.exception() is not None):
            return  # the client left
        if client.lagging:
            await bounded(on_lag(pump), grace, "lagging client")
        else:
            await bounded(socket.close(CLOSE_GOING_AWAY, "Gateway shutting down"), grace, "close")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _say_lagging(
    socket: WebSocket[Any, Any, Any], client: FeedClient, pump: asyncio.Task[None]
) -> None:
    """After the frame in flight, tell the client where it was dropped and close."""
    await pump
    frame = control_frame(LAGGING, {"dropped_after_seq": client.delivered})
    await socket.send_text(frame.frame)
    await socket.close(CLOSE_LAGGING, "Client is lagging; reconnect with since")


async def bounded(work: Any, seconds: float, what: str) -> None:
    """Run ``work`` for at most ``seconds``; a client that does not read is dropped."""
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        log.info("feed %s did not take its close within %.0fs; dropped", what, seconds)
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass


async def until_disconnect(socket: WebSocket[Any, Any, Any]) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
