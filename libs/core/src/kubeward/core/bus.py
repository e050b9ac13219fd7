"""NATS and JetStream helpers: streams, durable batch workers, dead letters, replies.

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
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
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
"""Requests one subscription answers at once (see :func:`serve_requests`)."""
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


_MIN_FETCH_WAIT = 0.005
"""Seconds below which a window's remaining time is not worth another fetch request."""


class BatchWorker:
    """A durable pull consumer that hands batches to a handler and acks them.

    The handler either returns (every message is acked) or raises (messages go back
    for redelivery after ``retry_delay``; those that reached ``max_deliver`` are
    dead-lettered with the error, so nothing vanishes when redelivery stops).

    With a ``window`` (seconds), a batch is not handed over as soon as the first fetch
    returns: the worker keeps fetching until ``batch`` messages are in hand or ``window``
    has passed since the first arrived, so a handler that aggregates (one write per key
    for the whole batch) sees more of a trickle at once. Acks still follow the handler's
    return, so an ack never runs ahead of the write it stands for.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        filter_subject: str,
        handler: BatchHandler,
        stage: str,
        batch: int = 1000,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        retry_delay: float = 1.0,
        max_ack_pending: int = 20_000,
        handler_timeout: float | None = None,
        window: float = 0.0,
    ) -> None:
        self._js = js
        self._stream = stream
        self._durable = durable
        self._filter = filter_subject
        self._handler = handler
        self._stage = stage
        self._batch = batch
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._retry_delay = retry_delay
        self._max_ack_pending = max_ack_pending
        self._handler_timeout = handler_timeout or 10 * ack_wait
        self._window = window
        self._stopping = asyncio.Event()
        self._last_progress = 0.0
        self._task: asyncio.Task[None] | None = None
        self._fetching = False
        self.healthy = False

    @property
    def durable(self) -> str:
        """The durable consumer's name."""
        return self._durable

    async def is_healthy(self) -> bool:
        """Readiness check: the last fetch reached the server (false while NATS is away)."""
        return self.healthy

    async def is_moving(self) -> bool:
        """Liveness check: the pull loop came round within the longest a handler may take
        (a loop stuck for longer will not recover by itself)."""
        if self._task is None:
            return True
        return self._clock() - self._last_progress <= self._handler_timeout + self._ack_wait

    @staticmethod
    def _clock() -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Create or bind the durable consumer and start pulling."""
        config = ConsumerConfig(
            durable_name=self._durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self._filter,
            ack_wait=self._ack_wait,
            max_deliver=self._max_deliver,
            max_ack_pending=self._max_ack_pending,
        )
        self._sub = await pull_subscribe(self._js, self._stream, config)
        self.healthy = True
        self._last_progress = self._clock()
        self._task = asyncio.create_task(self._run(), name=f"worker-{self._durable}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop pulling.

        A fetch still waiting for messages is abandoned rather than waited out: whatever
        the server sent it meanwhile is redelivered after ``ack_wait``, nothing is lost.
        """
        self._stopping.set()
        if self._task is not None:
            if self._fetching:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.healthy = False

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._last_progress = self._clock()
            self._fetching = True
            try:
                msgs = await self._sub.fetch(self._batch, timeout=0.5)
                if msgs and self._window > 0:
                    msgs += await self._fill_window(len(msgs))
            except TimeoutError:
                continue
            except Exception:
                log.exception("fetch from %s failed", self._durable)
                self.healthy = False
                await asyncio.sleep(self._retry_delay)
                continue
            finally:
                self._fetching = False
            self.healthy = True
            if not msgs:
                continue
            try:
                await self._process(msgs)
            except Exception:
                # Acks or naks that could not be sent (the connection dropped): the server
                # redelivers those messages after ack_wait; the loop must go on.
                log.exception("%s: could not settle a batch of %d", self._durable, len(msgs))

    async def _fill_window(self, have: int) -> list[Msg]:
        """More messages, until the batch is full or ``window`` has passed (from now, when
        the first fetch of the batch returned)."""
        more: list[Msg] = []
        deadline = self._clock() + self._window
        while have + len(more) < self._batch:
            remaining = deadline - self._clock()
            if remaining < _MIN_FETCH_WAIT:
                break
            try:
                more += await self._sub.fetch(self._batch - have - len(more), timeout=remaining)
            except Exception:  # a timeout, or an error the loop's next fetch reports
                break
        return more

    async def _process(self, msgs: list[Msg]) -> None:
        keepalive = asyncio.create_task(self._keep_alive(msgs))
        try:
            failed = await self._failures(msgs)
        finally:
            keepalive.cancel()
        failed_ids = {id(m) for m, _reason in failed}
        await asyncio.gather(*(m.ack() for m in msgs if id(m) not in failed_ids))
        await self._give_back(failed)

    async def _failures(self, msgs: list[Msg]) -> list[tuple[Msg, str]]:
        """Handle ``msgs``; the messages that failed, each with its reason.

        When a batch fails, its messages are handled again one by one (handlers are
        idempotent), so one bad message goes back alone and its neighbours are acked,
        rather than all of them being redelivered and, at the last delivery, dead-lettered
        together. Not after a timeout (each would wait as long again) or once stopping.
        """
        try:
            await self._handle_through_outages(msgs)
            return []
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if len(msgs) == 1 or isinstance(exc, TimeoutError) or self._stopping.is_set():
                log.exception("%s: batch of %d failed; will retry", self._durable, len(msgs))
                return [(m, reason) for m in msgs]
            log.warning(
                "%s: batch of %d failed (%s); handling its messages one by one",
                self._durable,
                len(msgs),
                reason,
            )
        failed: list[tuple[Msg, str]] = []
        for m in msgs:
            try:
                await self._handle_through_outages([m])
            except Exception as exc:
                log.exception("%s: message %d failed; will retry", self._durable, stream_seq(m))
                failed.append((m, f"{type(exc).__name__}: {exc}"))
        return failed

    async def _handle_through_outages(self, msgs: list[Msg]) -> None:
        """Run the handler; while it fails because a dependency is away (see
        :mod:`~kubeward.core.outage`), hold the batch in progress and try again, so an
        outage costs no delivery. A stop request ends the wait (the batch goes back)."""
        delay = self._retry_delay
        while True:
            try:
                # Bounded: a handler waiting on something that never comes (a PubAck lost
                # in a server restart) would otherwise hold its messages for good.
                await asyncio.wait_for(self._handler(msgs), self._handler_timeout)
                return
            except Exception as exc:
                if not is_outage(exc) or self._stopping.is_set():
                    raise
                if delay == self._retry_delay:
                    log.warning(
                        "%s: %s; holding %d messages until it is back",
                        self._durable,
                        exc,
                        len(msgs),
                    )
            self._last_progress = self._clock()  # waiting on a dependency is not stuck
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, OUTAGE_RETRY_MAX)

    async def _keep_alive(self, msgs: list[Msg]) -> None:
        """While a slow batch is being handled, tell the server it is still in progress
        so it is not redelivered (to this or another replica) half-way through."""
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            await asyncio.gather(*(m.in_progress() for m in msgs))

    async def _give_back(self, failed: list[tuple[Msg, str]]) -> None:
        for m, reason in failed:
            if m.metadata.num_delivered >= self._max_deliver:
                try:
                    await dead_letter(
                        self._js,
                        self._stage,
                        m.data,
                        f"gave up after {m.metadata.num_delivered} deliveries: {reason}",
                        m.subject,
                        stream_seq(m),
                    )
                except Exception:
                    log.exception("could not dead-letter seq %s", stream_seq(m))
                    await m.nak(delay=self._retry_delay)
                    continue
                await m.term()
            else:
                await m.nak(delay=self._retry_delay * m.metadata.num_delivered)


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


async def serve_requests(
    nc: NATS,
    subject: str,
    handler: RequestHandler,
    queue: str,
    *,
    time_limit: float | None = None,
    concurrency: int = REQUEST_CONCURRENCY,
) -> Any:
    """Answer requests on ``subject`` (queue group ``queue``) with ``handler``'s bytes.

    Up to ``concurrency`` requests are answered at once, so one slow request does not hold
    up the others behind it, and a burst cannot take the whole process. With
    ``time_limit`` every database operation of a request shares that budget in seconds
    (``pymongo.timeout``: the server aborts a query past it), for reads only: a listing
    that would run for long answers 503 and frees the database for everyone else.

    A handler exception becomes a 500 :class:`~kubeward.schemas.replies.Reply`; an
    unreachable or too slow database a 503, a number too large for MongoDB a 400.
    """
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def answer(msg: Msg, reply: str) -> None:
        try:
            if time_limit is None:
                data = await handler(msg)
            else:
                with pymongo.timeout(time_limit):
                    data = await handler(msg)
        except OverflowError:  # a number MongoDB cannot store (over 64 bits)
            data = msgspec.json.encode(error(400, "A number in the request is out of range"))
        except PyMongoError as exc:
            data = _database_error(subject, exc)
        except Exception as exc:
            if is_outage(exc):
                log.warning("request on %s: a dependency is unavailable: %s", subject, exc)
                data = msgspec.json.encode(error(503, "Database unavailable"))
            else:
                log.exception("request on %s failed", subject)
                data = msgspec.json.encode(error(500, "Internal server error"))
        await publish_reply(nc, reply, data)

    def done(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("request on %s: no reply sent: %s", subject, task.exception())

    async def on_request(msg: Msg) -> None:
        if not msg.reply:
            return
        await slots.acquire()
        task = asyncio.create_task(answer(msg, msg.reply))
        running.add(task)
        task.add_done_callback(done)

    sub = await nc.subscribe(subject, queue=queue, cb=on_request)
    await nc.flush()  # the server knows the responder before the service reports ready
    return sub


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


def serve_replies(
    nc: NATS,
    subject: str,
    request_type: type[Req],
    handler: Callable[[Req], Awaitable[Reply]],
    queue: str,
    *,
    time_limit: float | None = None,
) -> Awaitable[Any]:
    """Answer JSON requests of ``request_type`` with ``handler``'s :class:`Reply` (see
    :func:`serve_requests` for ``time_limit``).

    A request that does not decode is answered 400 naming the field.
    """
    decoder = msgspec.json.Decoder(request_type)

    async def on_request(msg: Msg) -> bytes:
        try:
            request = decoder.decode(msg.data)
        except msgspec.DecodeError as exc:  # ValidationError included
            return msgspec.json.encode(error(400, f"Invalid request: {exc}"))
        return msgspec.json.encode(await handler(request))

    return serve_requests(nc, subject, on_request, queue, time_limit=time_limit)


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
        await self._nc.flush()

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
