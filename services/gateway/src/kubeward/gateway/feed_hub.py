"""One ``FEED`` consumer per gateway process, fanned out to that process's WebSocket clients.

Every gateway replica runs its own ordered (ephemeral) JetStream consumer of the whole
``FEED`` stream, so every client on every replica sees every message. The hub keeps the
latest ``replay_max`` messages in memory (preloaded from the stream at start-up) for
clients resuming with ``since``; the snapshot of that history and the client's
registration for live messages happen without an ``await`` in between, so the boundary
between replay and live has neither a gap nor a duplicate.

Each client has a bounded queue. The hub never waits for a client: a client whose queue
is full is marked lagging, its queue is dropped and it is detached; the WebSocket
handler then tells it and closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, NamedTuple, Protocol

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Gauge

from kubeward.schemas import bus

log = logging.getLogger(__name__)

FEED_CLIENTS = Gauge("kubeward_gateway_feed_clients", "WebSocket feed clients connected.")
WEBSOCKET_CONNECTIONS_ACTIVE = Gauge(
    "kure_websocket_connections_active",
    "Number of currently active WebSocket connections",
)
"""Kure's metric (``backend/services/prometheus_metrics.py``): open feed sockets, on ``/ws``
and ``/api/ws`` together."""
FEED_LAGGING = Counter(
    "kubeward_gateway_feed_lagging_disconnects",
    "WebSocket feed clients disconnected because their queue overflowed.",
)

BURST = 64
"""Messages the hub hands out before it lets the clients' pumps run (at most a quarter of
a client's queue)."""

RESYNC_REQUIRED = "resync_required"
LAGGING = "lagging"


class FeedItem(NamedTuple):
    """One message ready to send: its stream sequence, what filters look at, the frame."""

    seq: int
    """Stream sequence; 0 for control frames (``resync_required``), which carry none."""
    type: str
    namespace: str | None
    frame: str


class _Envelope(msgspec.Struct):
    type: str
    data: msgspec.Raw


class _Frame(msgspec.Struct):
    type: str
    data: msgspec.Raw
    seq: int


class _Scope(msgspec.Struct):
    namespace: str | None = None
    pod_namespace: str | None = None


_envelope = msgspec.json.Decoder(_Envelope)
_scope = msgspec.json.Decoder(_Scope)


def control_frame(event_type: str, data: dict[str, Any]) -> FeedItem:
    """A frame the gateway itself sends (no stream sequence, never filtered out)."""
    frame = msgspec.json.encode({"type": event_type, "data": data}).decode()
    return FeedItem(0, event_type, None, frame)


def feed_item(seq: int, body: bytes) -> FeedItem | None:
    """The item for a ``FEED`` message body, or ``None`` when it is not a feed message."""
    try:
        envelope = _envelope.decode(body)
    except msgspec.DecodeError:
        return None
    try:
        scope = _scope.decode(envelope.data)
    except msgspec.DecodeError:  # data that is not an object has no namespace
        namespace = None
    else:
        namespace = scope.namespace if scope.namespace is not None else scope.pod_namespace
    frame = msgspec.json.encode(_Frame(envelope.type, envelope.data, seq)).decode()
    return FeedItem(seq, envelope.type, namespace, frame)


class FeedFilter(msgspec.Struct, frozen=True):
    """What one client asked for: message types (``None``: all) and one namespace."""

    types: frozenset[str] | None = None
    namespace: str | None = None
    """Applies to messages whose data has ``namespace`` or ``pod_namespace``; messages
    without either (e.g. ``security_rescan_status``) pass."""

    def accepts(self, item: FeedItem) -> bool:
        """Whether ``item`` goes to a client with this filter."""
        if self.types is not None and item.type not in self.types:
            return False
        return self.namespace is None or item.namespace in (None, self.namespace)


class Send(Protocol):
    """Sends one text frame to the client."""

    async def __call__(self, data: str) -> None: ...  # pragma: no cover


class FeedClient:
    """One connected client: its filter, its replay backlog and its bounded live queue."""

    def __init__(self, flt: FeedFilter, limit: int, after: int) -> None:
        self.filter = flt
        self.limit = limit
        self.after = after
        """Highest sequence already queued (or skipped); later ones are live."""
        self.delivered = after
        """Highest sequence handed to the socket: where a lagging client resumes."""
        self.backlog: deque[FeedItem] = deque()
        self.pending: deque[FeedItem] = deque()
        self.lagging = False
        self.stopped = False
        self.lagged = asyncio.Event()
        self._wake = asyncio.Event()

    def offer(self, item: FeedItem) -> bool:
        """Queue a live item; ``False`` when the queue overflowed and the client lags."""
        if item.seq <= self.after:
            return True  # already replayed
        self.after = item.seq
        if not self.filter.accepts(item):
            return True
        if len(self.pending) >= self.limit:
            self.lagging = True
            self.pending.clear()
            self.backlog.clear()
            self.lagged.set()
            self._wake.set()
            return False
        self.pending.append(item)
        self._wake.set()
        return True

    def stop(self) -> None:
        """End :meth:`pump` once the queue is empty (the gateway is shutting down)."""
        self.stopped = True
        self._wake.set()

    async def pump(self, send: Send) -> None:
        """Send backlog, then live items, in order; return when lagging or stopped."""
        while True:
            while (self.backlog or self.pending) and not self.lagging:
                item = self.backlog.popleft() if self.backlog else self.pending.popleft()
                await send(item.frame)
                if item.seq:
                    self.delivered = item.seq
            if self.lagging or self.stopped:
                return
            self._wake.clear()
            await self._wake.wait()


class FeedHub:
    """The process's one ``FEED`` consumer and the clients it fans out to."""

    def __init__(self, js: JetStreamContext, *, replay_max: int, client_queue: int) -> None:
        self._js = js
        self._client_queue = max(1, client_queue)
        self._burst = max(1, min(BURST, self._client_queue // 4))
        self._unyielded = 0
        self._ring: deque[FeedItem] = deque(maxlen=max(0, replay_max))
        self._clients: set[FeedClient] = set()
        self._internal: set[FeedClient] = set()
        """Clients that are relays inside this process (``/ws``), not sockets."""
        self._sub: Any = None
        self._warm = asyncio.Event()
        self._boot_last = 0
        self.last_seq = 0
        """Highest stream sequence this hub has received (or skipped at start-up)."""
        self.lagged_total = 0
        """Clients disconnected for lagging since start-up."""

    @property
    def clients(self) -> int:
        """WebSocket clients currently attached (relays inside the process not counted)."""
        return len(self._clients - self._internal)

    def _count(self) -> None:
        FEED_CLIENTS.set(self.clients)

    async def start(self, warm_timeout: float = 10.0) -> None:
        """Subscribe from the oldest message worth replaying; wait until it is loaded."""
        info = await self._js.stream_info(bus.FEED.name)
        last = int(info.state.last_seq)
        start = max(1, last - (self._ring.maxlen or 0) + 1)
        self._boot_last = last
        self.last_seq = start - 1
        if start > last or not info.state.messages:
            self.last_seq = last
            self._warm.set()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        self._sub = await self._js.subscribe(
            bus.FEED.subjects[0],
            stream=bus.FEED.name,
            cb=self._on_msg,
            ordered_consumer=True,
            config=config,
        )
        try:
            await asyncio.wait_for(self._warm.wait(), warm_timeout)
        except TimeoutError:
            log.warning("feed history not loaded within %.0fs; resumes may resync", warm_timeout)
            self.last_seq = max(self.last_seq, last)

    async def stop(self) -> None:
        """Unsubscribe and end every client's pump."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        for client in list(self._clients):
            client.stop()
        self._clients.clear()
        self._internal.clear()
        FEED_CLIENTS.set(0)

    async def _on_msg(self, msg: Msg) -> None:
        seq = int(msg.metadata.sequence.stream)
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        item = feed_item(seq, msg.data)
        if item is None:
            log.warning("FEED message %d on %s is not {type, data}; skipped", seq, msg.subject)
        else:
            self._ring.append(item)
            for client in list(self._clients):
                if not client.offer(item):
                    self._detach_lagging(client)
        if seq >= self._boot_last:
            self._warm.set()
        # nats-py calls back without yielding while messages are buffered: let the clients'
        # pumps send every few messages, so a burst does not count against them. Not after
        # each: the frames of a burst then reach each socket together (one write, see
        # ws_protocol).
        self._unyielded += 1
        if self._unyielded >= self._burst:
            self._unyielded = 0
            await asyncio.sleep(0)

    def _detach_lagging(self, client: FeedClient) -> None:
        self._clients.discard(client)
        if client in self._internal:
            self._internal.discard(client)
            return  # a relay resumes on its own
        self._count()
        self.lagged_total += 1
        FEED_LAGGING.inc()

    async def attach(
        self, flt: FeedFilter, since: int | None, *, internal: bool = False, limit: int = 0
    ) -> FeedClient:
        """Register a client; with ``since``, queue what it missed first.

        ``internal``: a relay inside this process rather than a socket (not counted).
        ``limit``: its queue (default ``FEED_CLIENT_QUEUE``).

        A ``since`` beyond the stream's last sequence (a reset stream, a made-up number)
        gets ``resync_required`` and live messages only; one older than the history kept
        gets ``resync_required`` and the whole history.
        """
        resync: FeedItem | None = None
        if since is not None and since > self.last_seq:
            try:
                stream_last = int((await self._js.stream_info(bus.FEED.name)).state.last_seq)
            except Exception:  # the bus is unreachable: trust the client
                log.warning("could not check since=%d against the FEED stream", since)
                stream_last = since
            if since > stream_last:
                resync = control_frame(
                    RESYNC_REQUIRED,
                    {"since": since, "reason": "unknown_sequence", "last_seq": self.last_seq},
                )
                since = None
        # From here to the end: no await, so no live message slips between replay and live.
        head = self.last_seq
        queue = limit if limit > 0 else self._client_queue
        client = FeedClient(flt, queue, head if since is None else max(since, head))
        if resync is not None:
            client.backlog.append(resync)
            client.delivered = head
        elif since is not None and since < head:
            client.delivered = since
            oldest = self._ring[0].seq if self._ring else head + 1
            if since + 1 < oldest:
                client.backlog.append(
                    control_frame(
                        RESYNC_REQUIRED,
                        {"since": since, "reason": "history_exceeded", "resume_from": oldest},
                    )
                )
            client.backlog.extend(i for i in self._ring if i.seq > since and flt.accepts(i))
        self._clients.add(client)
        if internal:
            self._internal.add(client)
        self._count()
        return client

    def detach(self, client: FeedClient) -> None:
        """Forget a client (idempotent)."""
        self._clients.discard(client)
        self._internal.discard(client)
        self._count()
