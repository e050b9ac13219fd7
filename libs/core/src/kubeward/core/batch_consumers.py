"""Durable JetStream batch consumers on FastStream's :class:`~faststream.nats.NatsBroker`.

The pilot of issue 15's runtime (ingest runs on it; the other services still use
:class:`kubeward.core.bus.BatchWorker`, whose semantics this module keeps exactly).

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
- **Settlement** (:class:`BatchConsumer.settle`). FastStream acks or naks a batch as one
  (or, with manual acks, not at all): it has no per-message outcome, no dead-lettering
  at the last delivery, no delay that grows with the delivery count, no holding through a
  dependency outage and no in-progress acks while a slow batch runs. A middleware's
  ``consume_scope`` only sees the batch as one message and cannot call the handler again
  for one message of it, so this is a wrapper around the handler rather than a middleware.
- **Liveness** per consumer (the loop comes round), which FastStream does not track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.subscriber.usecases import BatchPullStreamSubscriber
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as ServerAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy

from kubeward.core import bus
from kubeward.core.outage import is_outage

log = logging.getLogger(__name__)

_FASTSTREAM_LOG = logging.getLogger("kubeward.faststream")
_FASTSTREAM_LOG.setLevel(logging.WARNING)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]

FETCH_WAIT = 0.5
"""Seconds an idle fetch long-polls the server (as :class:`~kubeward.core.bus.BatchWorker`)."""
_MIN_FETCH_WAIT = 0.005
"""Seconds below which a window's remaining time is not worth another fetch request."""


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """One durable pull consumer: where it reads and how it settles (the parameters and
    defaults of :class:`~kubeward.core.bus.BatchWorker`)."""

    stream: str
    durable: str
    filter_subject: str
    stage: str
    """Names the dead-letter subject (``bus.deadletter_subject(stage)``)."""
    batch: int = 1000
    max_deliver: int = 5
    ack_wait: float = 30.0
    retry_delay: float = 1.0
    """Seconds before the first redelivery; the n-th waits ``n`` times as long."""
    max_ack_pending: int = 20_000
    handler_timeout: float | None = None
    """Seconds one handler call may take (default ``10 * ack_wait``)."""
    window: float = 0.0
    """Seconds to keep filling a batch after its first message arrived (0: hand over what
    the first fetch returned)."""

    def consumer_config(self) -> ConsumerConfig:
        """The server-side consumer this spec declares."""
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=ServerAckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.filter_subject,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            max_ack_pending=self.max_ack_pending,
        )


class BatchConsumer:
    """A durable consumer's settlement and health: hands batches to ``handler`` and settles
    each message by its own outcome.

    The handler either returns (every message is acked) or raises. A failed batch of more
    than one message is handled again one message at a time (handlers are idempotent), so
    one bad message goes back alone and its neighbours are acked. A failed message is
    nak'd with a delay growing with its delivery count, and dead-lettered (with the reason,
    origin subject and sequence headers, under a stable id) at ``max_deliver``.
    """

    def __init__(
        self, spec: BatchSpec, handler: BatchHandler, js: Callable[[], JetStreamContext]
    ) -> None:
        self.spec = spec
        self._handler = handler
        self._js = js
        self._handler_timeout = spec.handler_timeout or 10 * spec.ack_wait
        self.stopping = asyncio.Event()
        self.healthy = False
        self.started = False
        self.last_progress = 0.0
        self.idle = asyncio.Event()
        """Set while no batch is being settled."""
        self.idle.set()

    @property
    def durable(self) -> str:
        """The durable consumer's name."""
        return self.spec.durable

    async def is_healthy(self) -> bool:
        """Readiness check: the last fetch reached the server (false while NATS is away)."""
        return self.healthy

    async def is_moving(self) -> bool:
        """Liveness check: the pull loop came round within the longest a handler may take."""
        if not self.started:
            return True
        return self.clock() - self.last_progress <= self._handler_timeout + self.spec.ack_wait

    @staticmethod
    def clock() -> float:
        """The event loop's clock."""
        return asyncio.get_running_loop().time()

    async def settle(self, msgs: list[Msg]) -> None:
        """Handle a fetched batch and ack, nak or dead-letter each message (the handler
        FastStream calls; it never raises: what could not be sent is redelivered by the
        server after ``ack_wait``)."""
        self.idle.clear()
        try:
            keepalive = asyncio.create_task(self._keep_alive(msgs))
            try:
                failed = await self._failures(msgs)
            finally:
                keepalive.cancel()
            failed_ids = {id(m) for m, _reason in failed}
            await asyncio.gather(*(m.ack() for m in msgs if id(m) not in failed_ids))
            await self._give_back(failed)
        except Exception:
            log.exception("%s: could not settle a batch of %d", self.durable, len(msgs))
        finally:
            self.idle.set()

    async def _failures(self, msgs: list[Msg]) -> list[tuple[Msg, str]]:
        """Handle ``msgs``; the messages that failed, each with its reason (one by one after
        a failed batch; not after a timeout, each would wait as long again, nor once
        stopping)."""
        try:
            await self._handle_through_outages(msgs)
            return []
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if len(msgs) == 1 or isinstance(exc, TimeoutError) or self.stopping.is_set():
                log.exception("%s: batch of %d failed; will retry", self.durable, len(msgs))
                return [(m, reason) for m in msgs]
            log.warning(
                "%s: batch of %d failed (%s); handling its messages one by one",
                self.durable,
                len(msgs),
                reason,
            )
        failed: list[tuple[Msg, str]] = []
        for m in msgs:
            try:
                await self._handle_through_outages([m])
            except Exception as exc:
                log.exception("%s: message %d failed; will retry", self.durable, bus.stream_seq(m))
                failed.append((m, f"{type(exc).__name__}: {exc}"))
        return failed

    async def _handle_through_outages(self, msgs: list[Msg]) -> None:
        """Run the handler (bounded by the handler timeout); while it fails because a
        dependency is away, hold the batch in progress and try again. Stopping ends the wait."""
        delay = self.spec.retry_delay
        while True:
            try:
                await asyncio.wait_for(self._handler(msgs), self._handler_timeout)
                return
            except Exception as exc:
                if not is_outage(exc) or self.stopping.is_set():
                    raise
                if delay == self.spec.retry_delay:
                    log.warning(
                        "%s: %s; holding %d messages until it is back", self.durable, exc, len(msgs)
                    )
            self.last_progress = self.clock()  # waiting on a dependency is not stuck
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, bus.OUTAGE_RETRY_MAX)

    async def _keep_alive(self, msgs: list[Msg]) -> None:
        """While a slow batch is handled, tell the server it is still in progress."""
        while True:
            await asyncio.sleep(self.spec.ack_wait / 3)
            await asyncio.gather(*(m.in_progress() for m in msgs))

    async def _give_back(self, failed: list[tuple[Msg, str]]) -> None:
        for m, reason in failed:
            delivered = m.metadata.num_delivered
            if delivered >= self.spec.max_deliver:
                try:
                    await bus.dead_letter(
                        self._js(),
                        self.spec.stage,
                        m.data,
                        f"gave up after {delivered} deliveries: {reason}",
                        m.subject,
                        bus.stream_seq(m),
                    )
                except Exception:
                    log.exception("could not dead-letter seq %s", bus.stream_seq(m))
                    await m.nak(delay=self.spec.retry_delay)
                    continue
                await m.term()
            else:
                await m.nak(delay=self.spec.retry_delay * delivered)


class _PullLoop(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber with today's fetch loop and durable binding (see
    the module docstring for why). Everything after the fetch (middlewares, the handler
    call, graceful stop) is FastStream's ``consume``."""

    __slots__ = ()
    kubeward: BatchConsumer

    async def _create_subscription(self) -> None:
        if self.subscription:
            return
        consumer = self.kubeward
        self.subscription = await bus.pull_subscribe(
            self.jetstream, consumer.spec.stream, consumer.spec.consumer_config()
        )
        consumer.healthy = True
        consumer.started = True
        consumer.last_progress = consumer.clock()
        self.add_task(self._consume_pull)

    async def _consume_pull(self) -> None:
        consumer = self.kubeward
        spec = consumer.spec
        sub = self.subscription
        assert sub is not None
        while self.running and not consumer.stopping.is_set():
            consumer.last_progress = consumer.clock()
            try:
                msgs = await sub.fetch(spec.batch, timeout=FETCH_WAIT)
                if msgs and spec.window > 0:
                    msgs += await self._fill_window(sub, spec, len(msgs))
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

    @staticmethod
    async def _fill_window(
        sub: JetStreamContext.PullSubscription, spec: BatchSpec, have: int
    ) -> list[Msg]:
        more: list[Msg] = []
        clock = BatchConsumer.clock
        deadline = clock() + spec.window
        while have + len(more) < spec.batch:
            remaining = deadline - clock()
            if remaining < _MIN_FETCH_WAIT:
                break
            try:
                more += await sub.fetch(spec.batch - have - len(more), timeout=remaining)
            except Exception:  # a timeout, or an error the loop's next fetch reports
                break
        return more


async def _raw_batch(msg: Any, *_args: Any, **_kwargs: Any) -> Any:
    """Decoder: the handler receives the fetched :class:`Msg` list undecoded."""
    return msg.raw_message


class BusRuntime:
    """A service's FastStream broker and the durable batch consumers registered on it.

    It has its own NATS connection (the service's :class:`~kubeward.core.service.ServiceContext`
    keeps its own for publishing, health and metrics requests).
    """

    def __init__(
        self,
        name: str,
        nats_url: str,
        closed_cb: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._stopping = False

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
            decoder=_raw_batch,
        )
        subscriber(consumer.settle)
        # The factory picks FastStream's own class; swap in the fetch loop above (a subclass
        # adding no state, so the instance is the same object to the broker).
        subscriber.__class__ = _PullLoop
        cast(_PullLoop, subscriber).kubeward = consumer
        self.consumers.append(consumer)
        return consumer

    async def start(self) -> None:
        """Connect and start every consumer."""
        await self.broker.start()

    async def ping(self) -> bool:
        """Readiness check: the broker's connection is up."""
        return await self.broker.ping(timeout=1.0)

    async def stop(self) -> None:
        """Finish the batches in hand (acked), then stop pulling and close the connection.

        A fetch still waiting is abandoned: what the server sent it meanwhile is redelivered
        after ``ack_wait``, nothing is lost.
        """
        if self._stopping:
            return
        self._stopping = True
        for consumer in self.consumers:
            consumer.stopping.set()
        # FastStream's graceful stop waits at most ``graceful_timeout`` for a handler; the
        # batch in hand is waited for however long it takes, as BatchWorker.stop does.
        for consumer in self.consumers:
            await consumer.idle.wait()
        # The subscribers stop first; draining a connection already closed for good (the
        # reason the service is leaving) then raises: nothing is left to drain.
        with contextlib.suppress(ConnectionClosedError):
            await self.broker.stop()
        for consumer in self.consumers:
            consumer.healthy = False
