"""``WS /ws``: the live feed as Kure's backend serves it, for its agent, scanner and dashboard.

Protocol (Kure's ``backend/services/websocket.py``; also in the README, "Kure Monitor
clients: feed and accounts"):

- Auth: the dashboard's ``kure_session`` cookie, or the service token as ``?token=`` (the
  agent's and scanner's legacy form) or ``X-Service-Token`` header (their current form).
  Without valid credentials the handshake is refused before it is accepted, as Kure's
  backend does (``close(4001)`` before ``accept``): the client sees HTTP 403 and retries.
- Frames: text ``{"type": ..., "data": ...}`` in Kure's names and shapes
  (:mod:`kubeward.gateway.kure_messages`), no ``seq``, no resume, no filters. What clients
  send is read and ignored (the clients send nothing but WebSocket pings, which are
  answered with pongs by the server).
- A client that falls ``FEED_CLIENT_QUEUE`` messages behind is closed with 4008; gateway
  shutdown closes with 1001. Kure's clients reconnect on any close.

One relay per gateway translates each ``FEED`` message once: it is a client of the
process's :class:`~kubeward.gateway.feed_hub.FeedHub` (so there is still one ``FEED``
consumer per gateway) and fans the translated frames out to the ``/ws`` sockets. Where
Kure sends the whole failure record and our event has only the changed fields, the relay
asks failure-analyzer for the record; if it does not answer, the event's own fields go.
If the relay itself falls behind, it resumes from the hub's history without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.di import NamedDependency

from kubeward.gateway.auth import authenticate_websocket
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.feed import CLOSE_LAGGING, serve_client
from kubeward.gateway.feed_hub import (
    WEBSOCKET_CONNECTIONS_ACTIVE,
    FeedClient,
    FeedFilter,
    FeedHub,
    FeedItem,
)
from kubeward.gateway.kure_messages import RECORD_KEY, kure_type
from kubeward.gateway.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import GetFailure

log = logging.getLogger(__name__)

KURE_FEED_PATH = "/ws"
RELAY_QUEUE = 10_000
"""Messages the relay may fall behind the hub before it resumes from the hub's history."""
RETRY_SECONDS = 1.0
"""Pause before the relay resumes after an unexpected error."""
CLOSE_UNAUTHORIZED = 4001
"""Kure's close code for refused credentials (sent before accepting: HTTP 403)."""

FetchRecord = Callable[[int], Awaitable[msgspec.Raw | None]]


class _Frame(msgspec.Struct):
    type: str
    data: msgspec.Raw
    seq: int = 0


class _Id(msgspec.Struct):
    id: int | None = None


class _Out(msgspec.Struct):
    type: str
    data: msgspec.Raw


_frame = msgspec.json.Decoder(_Frame)
_id = msgspec.json.Decoder(_Id)
_keys = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _record_id(data: msgspec.Raw) -> int | None:
    """The ``id`` of a feed event's data when it is not already a whole failure record."""
    try:
        if RECORD_KEY in _keys.decode(data):
            return None
        return _id.decode(data).id
    except msgspec.DecodeError:
        return None


class KureRelay:
    """Translates the hub's messages once and fans them out to the ``/ws`` sockets."""

    def __init__(
        self,
        hub: FeedHub,
        fetch_record: FetchRecord,
        client_queue: int,
        relay_queue: int = RELAY_QUEUE,
    ) -> None:
        self._hub = hub
        self._fetch = fetch_record
        self._queue = max(1, client_queue)
        self._relay_queue = max(1, relay_queue)
        self._clients: set[FeedClient] = set()
        self._task: asyncio.Task[None] | None = None
        self.last_seq = 0
        """Stream sequence of the last message relayed (or skipped)."""
        self.resumed = 0
        """How often the relay fell behind (or failed) and resumed from the hub's history."""

    @property
    def clients(self) -> int:
        """``/ws`` sockets attached."""
        return len(self._clients)

    async def start(self) -> None:
        """Start relaying from the hub's current position."""
        source = await self._attach(None)
        self.last_seq = source.after
        self._task = asyncio.create_task(self._run(source), name="kure-feed-relay")

    async def stop(self) -> None:
        """Stop relaying and end every socket's pump."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in list(self._clients):
            client.stop()
        self._clients.clear()

    async def _attach(self, since: int | None) -> FeedClient:
        return await self._hub.attach(FeedFilter(), since, internal=True, limit=self._relay_queue)

    def attach(self) -> FeedClient:
        """A queue for one new socket: messages relayed from now on."""
        client = FeedClient(FeedFilter(), self._queue, self.last_seq)
        self._clients.add(client)
        return client

    def detach(self, client: FeedClient) -> None:
        """Forget a socket's queue (idempotent)."""
        self._clients.discard(client)

    async def _run(self, source: FeedClient) -> None:
        while True:
            try:
                await source.pump(self._relay)
            except Exception:
                # Skip the message that failed (last_seq), so it cannot block /ws for good.
                log.exception("Kure feed relay failed on message %d; skipped", self.last_seq)
                await asyncio.sleep(RETRY_SECONDS)
                resume = max(source.delivered, self.last_seq)
            else:
                if not source.lagging:
                    return  # the hub stopped
                resume = source.delivered
                log.warning("Kure feed relay fell behind at %d; resuming", resume)
            finally:
                self._hub.detach(source)
            self.resumed += 1
            source = await self._attach(resume)

    async def _relay(self, data: str) -> None:
        frame = _frame.decode(data)
        if not frame.seq:
            return  # the hub's control frames (resync_required) are not Kure's
        self.last_seq = frame.seq
        target = kure_type(frame.type)
        if target is None:
            return
        body = frame.data
        if target.full_record:
            record_id = _record_id(body)
            if record_id is not None:
                body = await self._fetch(record_id) or body
        out = msgspec.json.encode(_Out(target.name, body)).decode()
        item = FeedItem(frame.seq, target.name, None, out)
        for client in list(self._clients):
            if not client.offer(item):
                self._clients.discard(client)


def record_fetcher(link: BusLink, timeout: float) -> FetchRecord:
    """Asks failure-analyzer for a whole failure record (``None`` when it cannot)."""
    command = msgspec.json.Encoder()

    async def fetch(record_id: int) -> msgspec.Raw | None:
        try:
            reply = await link.ask(
                bus.RPC_FAILURES_COMMAND,
                command.encode(GetFailure(id=record_id)),
                "Failure analyzer is not available",
                timeout,
            )
        except Exception:  # a closing connection, a bad reply: send what the event has
            log.warning("could not read failure %d for /ws", record_id, exc_info=True)
            return None
        return reply.body if reply.status == 200 else None

    return fetch


@asynccontextmanager
async def kure_feed_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start the ``/ws`` relay (after the feed hub) and stop it first on shutdown."""
    settings: Settings = app.state.settings
    link: BusLink = app.state.bus
    fetch = record_fetcher(link, settings.request_timeout_seconds)
    relay = KureRelay(app.state.feed, fetch, settings.feed_client_queue)
    await relay.start()
    app.state.kure_feed = relay
    try:
        yield
    finally:
        await relay.stop()


@websocket(KURE_FEED_PATH, opt={"public": True})
async def kure_feed_socket(
    socket: WebSocket[Any, Any, Any],
    kure_feed: NamedDependency[KureRelay],
    settings: NamedDependency[Settings],
) -> None:
    """Relay Kure-shaped feed messages to one client until it leaves, lags or we stop."""
    if not await authenticate_websocket(socket):
        await socket.close(code=CLOSE_UNAUTHORIZED, reason="Unauthorized")
        return
    await socket.accept()
    client = kure_feed.attach()
    WEBSOCKET_CONNECTIONS_ACTIVE.inc()
    try:
        # Kure's clients know no lagging frame: they reconnect on any close.
        await serve_client(
            socket,
            client,
            settings.feed_lag_grace_seconds,
            lambda _pump: socket.close(CLOSE_LAGGING, "Client is lagging"),
        )
    finally:
        WEBSOCKET_CONNECTIONS_ACTIVE.dec()
        kure_feed.detach(client)
