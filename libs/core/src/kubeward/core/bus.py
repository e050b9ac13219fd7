"""NATS and JetStream helpers: streams, publishing, dead letters, requests and replies.

Durable batch consumers are :mod:`kubeward.core.batch_consumers` (on FastStream's broker,
settled by :mod:`kubeward.core.settlement`).

Replies larger than one NATS message are split into parts carrying the
``Kubeward-Part``/``Kubeward-Parts`` headers; :class:`ReplyInbox` reassembles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
import nats
import pymongo
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError
from pymongo.errors import PyMongoError

from kubeward.core.outage import is_outage
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply, error

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]
RequestHandler = Callable[[Msg], Awaitable[bytes]]
Req = TypeVar("Req")

_PART_HEADROOM = 4096
_HEADER_HEADROOM = 512
"""Bytes kept free in a dead letter for the NATS header framing beyond names and values."""

REQUEST_CONCURRENCY = 16
"""Requests one responder answers at once (see
:meth:`kubeward.core.batch_consumers.BusRuntime.requests`)."""
READ_TIME_LIMIT = 8.0
"""Seconds of database time a listing may take before it is aborted and answered 503:
less than the gateway's default request timeout (10 s), so the caller hears why."""
OUTAGE_RETRY_MAX = 5.0
"""Longest pause, in seconds, between tries of a batch held through a dependency outage."""
ACK_TIMEOUT = 10.0
"""Seconds a service waits for PubAcks of pipelined publishes. A PubAck lost in a server
restart never arrives; without a bound the consumer waiting for it stalls for good."""


async def connect(
    url: str, name: str, closed_cb: Callable[[], Awaitable[None]] | None = None
) -> NATS:
    """Connect to NATS with reconnects that never give up.

    ``url`` may list several servers separated by commas (every node of a cluster): the
    client connects to one and fails over to the others.
    ``closed_cb`` runs when the connection is closed for good, which nats-py does on
    some server errors (e.g. ``maximum payload exceeded``) whatever the reconnect policy:
    a service then has no bus and should exit so that its supervisor restarts it.
    """
    options: dict[str, Any] = {}
    if closed_cb is not None:
        options["closed_cb"] = closed_cb
    return await nats.connect(
        server_urls(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        **options,
    )


async def settled(nc: NATS) -> None:
    """Return once the server has processed every command given to ``nc`` so far (a
    subscription just made is then in force for every other connection).

    Not ``nc.flush()`` alone: nats-py (2.9-2.16) writes its PING straight to the socket,
    ahead of the commands still queued for its flusher task, so the PONG can come back
    before the server saw a SUB made just before; a request from another connection
    was then told "no responders" (docs/notes.md). By the time the first PONG is read, the
    flusher has written the queue, so the second PING follows it on the wire.
    """
    await nc.flush()
    await nc.flush()


def server_urls(url: str) -> list[str]:
    """The servers of a ``NATS_URL`` value: one URL, or several separated by commas."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("NATS_URL names no server")
    return urls


PUBLISH_CONCURRENCY = 512
"""JetStream publishes :func:`publish_all` keeps in flight at once."""


async def publish_all(
    js: JetStreamContext,
    messages: Sequence[tuple[str, bytes, dict[str, str] | None]],
    timeout: float = ACK_TIMEOUT,
) -> list[Any]:
    """Publish ``messages`` (subject, payload, headers) pipelined; one result per message,
    in order: its PubAck, or the exception its publish raised (``TimeoutError`` when no
    PubAck came within ``timeout``).

    Each message is a ``js.publish`` (a request with its own timeout), at most
    :data:`PUBLISH_CONCURRENCY` at once. nats-py's ``publish_async`` is not used: a
    future whose PubAck is lost (the server restarting) keeps its slot of the client's
    4000 pending publishes until someone cancels it, and a caller cancelled while still
    publishing (a handler timeout) leaves its futures behind: once 4000 slots leak, every
    later ``publish_async`` waits forever. ``bench.faults`` stalled traffic-store that way.
    """
    slots = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(subject: str, data: bytes, headers: dict[str, str] | None) -> Any:
        async with slots:
            return await js.publish(subject, data, timeout=timeout, headers=headers)

    results: list[Any] = []
    for first in range(0, len(messages), PUBLISH_CONCURRENCY * 4):
        chunk = messages[first : first + PUBLISH_CONCURRENCY * 4]
        results += await asyncio.gather(*(one(*m) for m in chunk), return_exceptions=True)
    return results


async def ensure_streams(
    js: JetStreamContext, specs: Sequence[bus.StreamSpec], replicas: int = 1
) -> None:
    """Create each stream if absent, or bring its subjects, limits and ``replicas`` (the
    ``NATS_STREAM_REPLICAS`` setting: 3 on a three-node cluster) up to date.

    A JetStream API call that times out or answers 503 (a cluster electing a leader, or
    busy with other replicas starting at once) is tried again, ``ENSURE_ATTEMPTS`` times.
    """
    for spec in specs:
        for attempt in range(1, ENSURE_ATTEMPTS + 1):
            try:
                await _ensure_stream(js, spec, replicas)
                break
            except _NOT_YET as exc:
                if attempt == ENSURE_ATTEMPTS:
                    raise
                log.warning("stream %s: JetStream not answering (%r); trying again", spec.name, exc)
                await asyncio.sleep(0.5 * attempt)


ENSURE_ATTEMPTS = 5
"""Tries of each stream's creation or update (each JetStream API call waits up to 5 s)."""
_NOT_YET = (TimeoutError, ServiceUnavailableError)


async def _ensure_stream(js: JetStreamContext, spec: bus.StreamSpec, replicas: int) -> None:
    config = StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        max_age=spec.max_age_seconds,
        max_bytes=spec.max_bytes,
        duplicate_window=spec.duplicate_window_seconds,
        num_replicas=max(replicas, 1),
    )
    try:
        current = (await js.stream_info(spec.name)).config
    except NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):
            await js.add_stream(config)
            return
        # Another process created it between our look-up and add: fall through.
    else:
        if _up_to_date(current, config):
            # Nothing to change: no write, which on a cluster goes through consensus
            # (a dozen replicas starting at once would queue behind each other).
            return
    await js.update_stream(config)


async def pull_subscribe(
    js: JetStreamContext, stream: str, config: ConsumerConfig
) -> JetStreamContext.PullSubscription:
    """Create or bind the durable pull consumer ``config`` describes on ``stream``.

    On a cluster, a replica that looks up a durable consumer another replica is creating
    at that moment gets no answer until it has a leader: the look-up times out. It is tried
    again (``ENSURE_ATTEMPTS`` in all, as a 503 during an election) rather than failing the
    service's start-up.
    """
    assert config.durable_name is not None and config.filter_subject is not None
    for attempt in range(1, ENSURE_ATTEMPTS + 1):
        try:
            return await js.pull_subscribe(
                config.filter_subject, durable=config.durable_name, stream=stream, config=config
            )
        except _NOT_YET as exc:
            if attempt == ENSURE_ATTEMPTS:
                raise
            log.warning(
                "consumer %s: JetStream not answering (%r); trying again", config.durable_name, exc
            )
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _up_to_date(current: StreamConfig, wanted: StreamConfig) -> bool:
    return (
        sorted(current.subjects or ()) == sorted(wanted.subjects or ())
        and current.description == wanted.description
        and current.max_age == wanted.max_age
        and current.max_bytes == wanted.max_bytes
        and current.duplicate_window == wanted.duplicate_window
        and (current.num_replicas or 1) == wanted.num_replicas
    )


async def dead_letter(
    js: JetStreamContext,
    stage: str,
    data: bytes,
    reason: str,
    origin_subject: str,
    origin_seq: int | None = None,
) -> None:
    """Publish ``data`` to the dead-letter stream with the reason in headers.

    The message id is a digest of the origin, the reason and the bytes, so a restarted or
    second replica dead-lettering the same record is deduplicated, while two identical
    records of one message (their reasons name their index) stay two dead letters.

    A dead letter never exceeds the server's message size (the server would close the
    connection): bytes beyond it are cut, ``Kubeward-Truncated`` gives the original size,
    and the whole original stays in its stream at ``Kubeward-Origin-Seq``.
    """
    headers = {
        bus.HDR_REASON: _header_safe(reason),
        bus.HDR_ORIGIN_SUBJECT: origin_subject,
        bus.HDR_STAGE: stage,
    }
    if origin_seq is not None:
        headers[bus.HDR_ORIGIN_SEQ] = str(origin_seq)
        headers[bus.HDR_MSG_ID] = dead_letter_id(stage, origin_subject, origin_seq, reason, data)
    room = (
        _max_payload(js) - _HEADER_HEADROOM - sum(len(k) + len(v) + 4 for k, v in headers.items())
    )
    if len(data) > room:
        headers[bus.HDR_TRUNCATED] = str(len(data))
        data = data[: max(room - 64, 0)]
    await js.publish(bus.deadletter_subject(stage), data, headers=headers)


def dead_letter_id(
    stage: str, origin_subject: str, origin_seq: int, reason: str, data: bytes
) -> str:
    """A stable ``Nats-Msg-Id`` for a dead letter (the same in every process)."""
    digest = hashlib.blake2b(digest_size=12)
    for part in (stage, origin_subject, str(origin_seq), reason):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(data)
    return f"dl-{stage}-{origin_seq}-{digest.hexdigest()}"


def _max_payload(js: JetStreamContext) -> int:
    # nats-py exposes the connection of a JetStream context only as ``_nc``.
    nc: NATS = js._nc
    return int(nc.max_payload)


def _header_safe(text: str) -> str:
    """Header values cannot carry CR/LF; keep them on one bounded line."""
    return " ".join(text.split())[:2000]


def stream_seq(msg: Msg) -> int:
    """The stream sequence of a JetStream message."""
    return int(msg.metadata.sequence.stream)


async def publish_reply(nc: NATS, subject: str, data: bytes) -> None:
    """Send ``data`` to a reply subject, split into parts when it is larger than a message."""
    limit = max(nc.max_payload - _PART_HEADROOM, 1024)
    if len(data) <= limit:
        await nc.publish(subject, data)
        return
    parts = [data[i : i + limit] for i in range(0, len(data), limit)]
    total = str(len(parts))
    for index, part in enumerate(parts):
        await nc.publish(subject, part, headers={bus.HDR_PART: str(index), bus.HDR_PARTS: total})


def answering(
    subject: str, handler: RequestHandler, time_limit: float | None = None
) -> RequestHandler:
    """``handler`` as it answers a request on ``subject``: never raising, its failures
    turned into error replies.

    With ``time_limit`` every database operation of a request shares that budget in seconds
    (``pymongo.timeout``: the server aborts a query past it), for reads only: a listing
    that would run for long answers 503 and frees the database for everyone else.

    A handler exception becomes a 500 :class:`~kubeward.schemas.replies.Reply`; an
    unreachable or too slow database a 503, a number too large for MongoDB a 400.
    """

    async def answer(msg: Msg) -> bytes:
        try:
            if time_limit is None:
                return await handler(msg)
            with pymongo.timeout(time_limit):
                return await handler(msg)
        except OverflowError:  # a number MongoDB cannot store (over 64 bits)
            return msgspec.json.encode(error(400, "A number in the request is out of range"))
        except PyMongoError as exc:
            return _database_error(subject, exc)
        except Exception as exc:
            if is_outage(exc):
                log.warning("request on %s: a dependency is unavailable: %s", subject, exc)
                return msgspec.json.encode(error(503, "Database unavailable"))
            log.exception("request on %s failed", subject)
            return msgspec.json.encode(error(500, "Internal server error"))

    return answer


def json_requests(
    request_type: type[Req], handler: Callable[[Req], Awaitable[Reply]]
) -> RequestHandler:
    """A :data:`RequestHandler` decoding JSON requests of ``request_type`` for ``handler``
    and encoding its :class:`Reply`; a request that does not decode is answered 400 naming
    the field."""
    decoder = msgspec.json.Decoder(request_type)

    async def on_request(msg: Msg) -> bytes:
        try:
            request = decoder.decode(msg.data)
        except msgspec.DecodeError as exc:  # ValidationError included
            return msgspec.json.encode(error(400, f"Invalid request: {exc}"))
        return msgspec.json.encode(await handler(request))

    return on_request


def _database_error(subject: str, exc: PyMongoError) -> bytes:
    """The reply to a request whose database operation failed."""
    if exc.timeout:
        log.warning("request on %s: the database did not answer in time: %s", subject, exc)
        return msgspec.json.encode(error(503, "The database did not answer in time"))
    if is_outage(exc):
        log.warning("request on %s: the database is unavailable: %s", subject, exc)
        return msgspec.json.encode(error(503, "Database unavailable"))
    log.exception("request on %s failed", subject)
    return msgspec.json.encode(error(500, "Internal server error"))


class ReplyInbox:
    """One wildcard subscription that routes replies (possibly multi-part) to futures."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._parts: dict[str, dict[int, bytes]] = {}
        self._counter = 0
        self._sub: Any = None

    async def start(self) -> None:
        """Subscribe to the inbox prefix."""
        self._sub = await self._nc.subscribe(self._prefix + ".*", cb=self._on_msg)
        await settled(self._nc)

    async def stop(self) -> None:
        """Unsubscribe and fail every waiter."""
        if self._sub is not None:
            await self._sub.unsubscribe()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()

    def expect(self) -> tuple[str, asyncio.Future[bytes]]:
        """A fresh reply subject and the future its reply will resolve."""
        self._counter += 1
        token = str(self._counter)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        fut.add_done_callback(lambda _f: self._forget(token))
        return f"{self._prefix}.{token}", fut

    def _forget(self, token: str) -> None:
        self._pending.pop(token, None)
        self._parts.pop(token, None)

    async def request(self, subject: str, payload: bytes, timeout: float) -> bytes:
        """Core-NATS request whose reply may come in parts."""
        reply, fut = self.expect()
        await self._nc.publish(subject, payload, reply=reply)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if not fut.done():
                fut.cancel()

    async def _on_msg(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        fut = self._pending.get(token)
        if fut is None or fut.done():
            return
        headers = msg.headers or {}
        if msg.data == b"" and headers.get("Status") == "503":
            fut.set_exception(NoRespondersError(msg.subject))
            return
        total = headers.get(bus.HDR_PARTS)
        if total is None:
            fut.set_result(msg.data)
            return
        parts = self._parts.setdefault(token, {})
        parts[int(headers[bus.HDR_PART])] = msg.data
        if len(parts) == int(total):
            fut.set_result(b"".join(parts[i] for i in range(len(parts))))


class NoRespondersError(RuntimeError):
    """No service is subscribed to the requested subject."""
