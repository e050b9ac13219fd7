"""Durable JetStream batch consumers on FastStream's :class:`~faststream.nats.NatsBroker`.

Issue 15's runtime: every service's durable consumers run on it (ingest, traffic-store,
failure-analyzer, security; mirror has none). It keeps the semantics of the hand-written
``BatchWorker`` loop it replaced.

What FastStream gives and is used as it is: the broker and its connection (reconnects,
``closed_cb``), the subscriber registry and its start/stop, durable pull subscriptions
declared by a :class:`~nats.js.api.ConsumerConfig` (``max_deliver``, ``ack_wait``,
``max_ack_pending`` go to the server unchanged), ``PullSub(batch=True)`` handing the handler a
list, ``AckPolicy.MANUAL`` (FastStream never acks, naks or terms on its own), a decoder hook
(the handler receives the raw :class:`~nats.aio.msg.Msg` list: each router decodes its
records with msgspec itself, record by record, so one hostile record cannot fail the batch's
decoding), graceful stop of in-flight handlers, and ``broker.ping`` for readiness.

What it lacks, hand-written here:

- **Fetch loop** (:class:`_PullLoop`). FastStream's batch loop keeps fetching until the batch
  is full or ``PullSub.timeout`` has passed since the loop came round, so a trickle (one
  ``POST /pod/traffic``) would wait the whole timeout, and a short timeout would poll the
  server many times a second while idle. Today's loop hands over what the first fetch
  returned (or, with a ``window``, fills from the first arrival), long-polls 0.5 s while
  idle, reports a failing fetch as unready and waits ``retry_delay`` instead of ending
  the task; it binds the durable consumer with the retries :func:`kubeward.core.bus.pull_subscribe`
  makes on a cluster electing a leader (FastStream's start fails at the first timeout).
- **Settlement** (:class:`~kubeward.core.settlement.BatchConsumer`): per-message outcome,
  dead letters, growing delays, outage hold, in-progress acks. A middleware's
  ``consume_scope`` only sees the batch as one message and cannot call the handler again
  for one message of it, so this is a wrapper around the handler rather than a middleware.
- **Liveness** per consumer (the loop comes round), which FastStream does not track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, cast

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.subscriber.usecases import BatchPullStreamSubscriber
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext

from kubeward.core import bus
from kubeward.core.bus import Req
from kubeward.core.pulls import Puller
from kubeward.core.settlement import (
    FETCH_WAIT,
    BatchConsumer,
    BatchHandler,
    BatchSpec,
    fetch_batch,
)
from kubeward.schemas.replies import Reply

log = logging.getLogger(__name__)

_FASTSTREAM_LOG = logging.getLogger("kubeward.faststream")
_FASTSTREAM_LOG.setLevel(logging.WARNING)

__all__ = ["BatchConsumer", "BatchHandler", "BatchSpec", "BusRuntime", "Handled"]


class _PullLoop(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber with today's fetch loop and durable binding (see
    the module docstring for why). Everything after the fetch (middlewares, the handler
    call, graceful stop) is FastStream's ``consume``."""

    __slots__ = ()
    kubeward: BatchConsumer
    puller: Puller | None = None

    async def _create_subscription(self) -> None:
        if self.subscription:
            return
        consumer = self.kubeward
        spec = consumer.spec
        # FastStream's subscription binds the durable consumer; the fetches go through a
        # Puller (see kubeward.core.pulls for why not the subscription's own fetch).
        self.subscription = await bus.pull_subscribe(
            self.jetstream, spec.stream, spec.consumer_config()
        )
        self.puller = Puller(self.connection, spec.stream, spec.durable)
        await self.puller.open()
        consumer.healthy = True
        consumer.started = True
        consumer.last_progress = consumer.clock()
        self.add_task(self._consume_pull)

    async def _consume_pull(self) -> None:
        consumer = self.kubeward
        spec = consumer.spec
        puller = self.puller
        assert puller is not None
        while self.running and not consumer.stopping.is_set():
            consumer.last_progress = consumer.clock()
            try:
                msgs = await fetch_batch(puller, spec)
            except TimeoutError:
                continue
            except Exception:
                log.exception("fetch from %s failed", spec.durable)
                consumer.healthy = False
                await asyncio.sleep(spec.retry_delay)
                continue
            consumer.healthy = True
            if msgs and not consumer.stopping.is_set():
                # A batch fetched while stopping is left to the server, as a cancelled
                # fetch's: redelivered after ack_wait.
                await self.consume(msgs)

    async def stop(self) -> None:
        await super().stop()
        if self.puller is not None:
            puller, self.puller = self.puller, None
            await puller.close()


async def _raw(msg: Any, *_args: Any, **_kwargs: Any) -> Any:
    """Decoder: the handler receives the :class:`Msg` (a batch: the fetched list) undecoded."""
    return msg.raw_message


ANSWER_GRACE = 10.0
"""Seconds :meth:`BusRuntime.stop` waits for the requests being answered."""


class Handled(NamedTuple):
    """A subject a runtime consumes or answers: what the bus contract
    (:data:`kubeward.schemas.bus.SUBJECTS`) must list for the service."""

    subject: str
    stream: str | None
    """The stream of a durable consumer; ``None`` for a request/reply subject."""
    payload: Any
    """A request's type, or the type a batch handler decodes each message's body (or
    record) to, from its ``payload`` attribute (``None`` when it names none)."""


class BusRuntime:
    """A service's FastStream broker and the durable batch consumers and responders
    registered on it.

    With ``keep_connection`` the broker's connection is the service's only one
    (:func:`kubeward.core.service.serving` publishes, and answers health and metrics
    requests, on it): :meth:`stop` then stops consuming and answering but leaves the
    connection open for the service's last publishes, and :meth:`close` closes it.
    Without, :meth:`stop` closes it too.
    """

    def __init__(
        self,
        name: str,
        nats_url: str,
        closed_cb: Callable[[], Awaitable[None]] | None = None,
        *,
        keep_connection: bool = False,
    ) -> None:
        self._stopping = False
        self._keep_connection = keep_connection

        async def closed() -> None:
            # Draining on stop closes the connection too: that is no loss.
            if closed_cb is not None and not self._stopping:
                await closed_cb()

        self.broker = NatsBroker(
            bus.server_urls(nats_url),
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # typed int; nats-py takes seconds as float
            connect_timeout=5,
            apply_types=False,
            # FastStream logs every handled batch, and each consumer task's end, at INFO:
            # noise here; its warnings and errors still come through.
            logger=_FASTSTREAM_LOG,
            log_level=logging.DEBUG,
            closed_cb=closed,
        )
        self.consumers: list[BatchConsumer] = []
        self.handled: list[Handled] = []
        """Every subject registered, in order (checked against the bus contract by
        ``tests/test_bus_contract.py``)."""
        self.started = False
        self._answering: set[asyncio.Task[None]] = set()

    def js(self) -> JetStreamContext:
        """The broker connection's JetStream context (for dead letters)."""
        return cast(JetStreamContext, self.broker.config.connection_state.stream)

    def batch_consumer(self, spec: BatchSpec, handler: BatchHandler) -> BatchConsumer:
        """Register a durable pull consumer handing batches to ``handler`` (settled per
        message by :meth:`BatchConsumer.settle`). Call before :meth:`start`."""
        consumer = BatchConsumer(spec, handler, self.js)
        subscriber = self.broker.subscriber(
            spec.filter_subject,
            stream=JStream(spec.stream, declare=False),  # streams: bus.ensure_streams
            durable=spec.durable,
            config=spec.consumer_config(),
            pull_sub=PullSub(spec.batch, timeout=FETCH_WAIT, batch=True),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw,
        )
        subscriber(consumer.settle)
        # The factory picks FastStream's own class; swap in the fetch loop above (a subclass
        # adding no state, so the instance is the same object to the broker).
        subscriber.__class__ = _PullLoop
        cast(_PullLoop, subscriber).kubeward = consumer
        self.consumers.append(consumer)
        payload = getattr(handler, "payload", None)
        self.handled.append(Handled(spec.filter_subject, spec.stream, payload))
        return consumer

    def replies(
        self,
        subject: str,
        request_type: type[Req],
        handler: Callable[[Req], Awaitable[Reply]],
        queue: str,
        *,
        time_limit: float | None = None,
    ) -> None:
        """Answer JSON requests of ``request_type`` on ``subject`` (queue group ``queue``)
        with ``handler``'s :class:`~kubeward.schemas.replies.Reply` (see
        :func:`kubeward.core.bus.json_requests` and :meth:`requests`)."""
        answer = bus.json_requests(request_type, handler)
        self._respond(subject, answer, queue, time_limit, Handled(subject, None, request_type))

    def requests(
        self,
        subject: str,
        handler: bus.RequestHandler,
        queue: str,
        *,
        time_limit: float | None = None,
    ) -> None:
        """Answer requests on ``subject`` (queue group ``queue``) with ``handler``'s bytes,
        up to :data:`~kubeward.core.bus.REQUEST_CONCURRENCY` at once; see
        :func:`kubeward.core.bus.answering` for ``time_limit`` and how failures are
        answered. Call before :meth:`start`.

        A FastStream core subscriber whose handler starts a task per request, at most
        :data:`~kubeward.core.bus.REQUEST_CONCURRENCY` at once (then it waits, and the
        subscription's pending messages wait with it): FastStream's own ``max_workers`` hands
        each message through an anyio stream to a worker, which cut the requests per
        second to a third here (``bench.runtime_cost``). The reply is sent by
        :func:`kubeward.core.bus.publish_reply`, which splits a reply larger than a message
        into parts (FastStream's own reply would be one message).
        """
        self._respond(subject, handler, queue, time_limit, Handled(subject, None, None))

    def _respond(
        self,
        subject: str,
        handler: bus.RequestHandler,
        queue: str,
        time_limit: float | None,
        handled: Handled,
    ) -> None:
        answer = bus.answering(subject, handler, time_limit)
        slots = asyncio.Semaphore(bus.REQUEST_CONCURRENCY)

        async def reply(msg: Msg, to: str) -> None:
            try:
                connection = self.broker.config.connection_state.connection
                await bus.publish_reply(connection, to, await answer(msg))
            finally:
                slots.release()

        async def on_request(msg: Msg) -> None:
            if msg.reply:
                await slots.acquire()
                task = asyncio.create_task(reply(msg, msg.reply))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)

        subscriber = self.broker.subscriber(
            subject,
            queue=queue,
            decoder=_raw,
            no_reply=True,
        )
        subscriber(on_request)
        self.handled.append(handled)

    async def connect(self) -> NATS:
        """The broker's connection (made on the first call; :meth:`start` uses it)."""
        return await self.broker.connect()

    async def start(self) -> None:
        """Connect and start every consumer and responder."""
        self.started = True
        await self.broker.start()
        # The server knows the responders before the service reports ready.
        await bus.settled(self.broker.config.connection_state.connection)

    async def ping(self) -> bool:
        """Readiness check: the broker's connection is up."""
        return await self.broker.ping(timeout=1.0)

    async def stop(self) -> None:
        """Finish the batches in hand (acked), then stop pulling and answering, and close
        the connection unless it is kept (see the class).

        A fetch still waiting is abandoned: what the server sent it meanwhile is redelivered
        after ``ack_wait``, nothing is lost.
        """
        if self._stopping:
            return
        self._stopping = True
        for consumer in self.consumers:
            consumer.stopping.set()
        # FastStream's graceful stop waits at most ``graceful_timeout`` for a handler; the
        # batch in hand is waited for however long it takes (a drain acks what it handled).
        for consumer in self.consumers:
            await consumer.idle.wait()
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        if self._answering:  # requests in hand get their answers (reads are time-limited)
            await asyncio.wait(self._answering, timeout=ANSWER_GRACE)
        if not self._keep_connection:
            await self._close_connection()
        for consumer in self.consumers:
            consumer.healthy = False

    async def close(self) -> None:
        """:meth:`stop`, then close the connection (drained) whoever keeps it."""
        await self.stop()
        await self._close_connection()

    async def _close_connection(self) -> None:
        # The subscribers stop first; draining a connection already closed for good (the
        # reason the service is leaving) then raises: nothing is left to drain.
        with contextlib.suppress(ConnectionClosedError):
            await self.broker.stop()
