"""A durable JetStream batch consumer on a hand-written pull loop, for the services not yet on
FastStream's broker (:mod:`kubeward.core.batch_consumers`). Both settle what they fetch the
same way (:class:`~kubeward.core.settlement.BatchConsumer`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext

from kubeward.core.bus import pull_subscribe
from kubeward.core.settlement import BatchConsumer, BatchHandler, BatchSpec, fetch_batch

log = logging.getLogger(__name__)


class BatchWorker:
    """A durable pull consumer that hands batches to a handler and settles each message:
    the handler returns (every message is acked) or raises (see
    :class:`~kubeward.core.settlement.BatchConsumer`: retried one by one, nak'd with a
    growing delay, dead-lettered at ``max_deliver``).

    With a ``window`` (seconds), a batch is not handed over as soon as the first fetch
    returns: the worker keeps fetching until ``batch`` messages are in hand or ``window``
    has passed since the first arrived. Acks still follow the handler's return, so an ack
    never runs ahead of the write it stands for.
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
        spec = BatchSpec(
            stream=stream,
            durable=durable,
            filter_subject=filter_subject,
            stage=stage,
            batch=batch,
            max_deliver=max_deliver,
            ack_wait=ack_wait,
            retry_delay=retry_delay,
            max_ack_pending=max_ack_pending,
            handler_timeout=handler_timeout,
            window=window,
        )
        self.consumer = BatchConsumer(spec, handler, lambda: js)
        self._task: asyncio.Task[None] | None = None
        self._fetching = False

    @property
    def durable(self) -> str:
        """The durable consumer's name."""
        return self.consumer.durable

    @property
    def healthy(self) -> bool:
        """Whether the last fetch reached the server."""
        return self.consumer.healthy

    async def is_healthy(self) -> bool:
        """Readiness check: the last fetch reached the server (false while NATS is away)."""
        return await self.consumer.is_healthy()

    async def is_moving(self) -> bool:
        """Liveness check: the pull loop came round within the longest a handler may take
        (a loop stuck for longer will not recover by itself)."""
        return await self.consumer.is_moving()

    async def start(self) -> None:
        """Create or bind the durable consumer and start pulling."""
        spec = self.consumer.spec
        self._sub = await pull_subscribe(self._js, spec.stream, spec.consumer_config())
        self.consumer.healthy = True
        self.consumer.started = True
        self.consumer.last_progress = self.consumer.clock()
        self._task = asyncio.create_task(self._run(), name=f"worker-{spec.durable}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop pulling.

        A fetch still waiting for messages is abandoned rather than waited out: whatever
        the server sent it meanwhile is redelivered after ``ack_wait``, nothing is lost.
        """
        self.consumer.stopping.set()
        if self._task is not None:
            if self._fetching:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.consumer.healthy = False

    async def _run(self) -> None:
        consumer = self.consumer
        while not consumer.stopping.is_set():
            consumer.last_progress = consumer.clock()
            self._fetching = True
            try:
                msgs = await fetch_batch(self._sub, consumer.spec)
            except TimeoutError:
                continue
            except Exception:
                log.exception("fetch from %s failed", self.durable)
                consumer.healthy = False
                await asyncio.sleep(consumer.spec.retry_delay)
                continue
            finally:
                self._fetching = False
            consumer.healthy = True
            if msgs:
                await consumer.settle(msgs)
