"""How a durable JetStream batch consumer settles what it fetched.

Used by :mod:`kubeward.core.batch_consumers` (FastStream's broker, on which every service's
consumers run). FastStream acks or naks a batch as one (or, with manual acks, not at all): it has no
per-message outcome, no dead-lettering at the last delivery, no delay that grows with the
delivery count, no holding through a dependency outage and no in-progress acks while a slow
batch runs; hence :class:`BatchConsumer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as ServerAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy

from kubeward.core import bus
from kubeward.core.outage import is_outage
from kubeward.core.pulls import Puller

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]

FETCH_WAIT = 0.5
"""Seconds an idle fetch long-polls the server."""
_MIN_FETCH_WAIT = 0.005
"""Seconds below which a window's remaining time is not worth another fetch request."""


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """One durable pull consumer: where it reads and how it settles."""

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


async def fetch_batch(puller: Puller, spec: BatchSpec) -> list[Msg]:
    """What the next fetch returns (waiting up to :data:`FETCH_WAIT`; ``[]`` when the server
    said nothing came, ``TimeoutError`` when it did not answer); with a ``window``, more
    until the batch is full or the window has passed since the first arrived, so a handler
    that aggregates sees more of a trickle at once."""
    msgs = await puller.fetch(spec.batch, timeout=FETCH_WAIT)
    if not msgs or spec.window <= 0:
        return msgs
    clock = BatchConsumer.clock
    deadline = clock() + spec.window
    while len(msgs) < spec.batch:
        remaining = deadline - clock()
        if remaining < _MIN_FETCH_WAIT:
            break
        try:
            more = await puller.fetch(spec.batch - len(msgs), timeout=remaining)
        except Exception:  # no answer, or an error the loop's next fetch reports
            break
        if not more:
            break
        msgs += more
    return msgs
