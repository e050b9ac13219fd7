"""The gateway's link to the bus: publish-and-wait for writes, request/reply for reads."""

from __future__ import annotations

import asyncio

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError

from kubeward.core import bus as corebus
from kubeward.core.bus import NoRespondersError, ReplyInbox
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply, error

_reply = msgspec.json.Decoder(Reply)


class BusLink:
    """Owns the gateway's NATS connection and its reply inbox."""

    def __init__(self, nc: NATS, timeout: float) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.inbox = ReplyInbox(nc)
        self.timeout = timeout
        self._shared: dict[tuple[str, bytes], asyncio.Task[Reply]] = {}

    @classmethod
    async def connect(cls, url: str, timeout: float, replicas: int = 1) -> BusLink:
        """Connect (``url`` may list a cluster's servers, comma-separated), ensure the
        streams exist with ``replicas`` and start the inbox."""
        nc = await corebus.connect(url, "gateway")
        link = cls(nc, timeout)
        await corebus.ensure_streams(link.js, bus.STREAMS, replicas)
        await link.inbox.start()
        return link

    async def is_connected(self) -> bool:
        """Health check: the NATS connection is up."""
        return bool(self.nc.is_connected)

    async def close(self) -> None:
        """Stop the inbox and close the connection."""
        await self.inbox.stop()
        await self.nc.close()

    async def collect(self, subject: str, payload: bytes) -> Reply:
        """Publish collector input exactly as a collector would, then wait for its outcome."""
        if len(payload) > self.nc.max_payload - 1024:
            return error(413, f"Request body exceeds {self.nc.max_payload - 1024} bytes")
        reply_to, outcome = self.inbox.expect()
        try:
            await self.js.publish(subject, payload, headers={bus.HDR_REPLY_TO: reply_to})
        except (NoStreamResponseError, TimeoutError):
            outcome.cancel()
            return error(503, "The event bus is not accepting input right now")
        try:
            return _reply.decode(await asyncio.wait_for(outcome, self.timeout))
        except (TimeoutError, NoRespondersError):
            return error(
                504,
                "Accepted, but the write was not confirmed in time; it will still be stored",
            )

    async def ask(
        self, subject: str, payload: bytes, unavailable: str, timeout: float | None = None
    ) -> Reply:
        """A request answered with a :class:`Reply`; 503 ``unavailable`` when nobody answers
        within ``timeout`` (default: the link's)."""
        try:
            return _reply.decode(await self.request(subject, payload, timeout))
        except (TimeoutError, NoRespondersError):
            return error(503, unavailable)

    async def ask_shared(self, subject: str, payload: bytes, unavailable: str) -> Reply:
        """:meth:`ask` for a read whose answer does not depend on the caller: callers asking
        the same while it is in flight share its answer (dashboards polling the same page
        cost one read, not one each, and leave the CPU to ingest). The answer is as fresh
        as one asked when the first of them asked."""
        key = (subject, payload)
        task = self._shared.get(key)
        if task is None:
            task = asyncio.create_task(self.ask(subject, payload, unavailable))
            self._shared[key] = task
            task.add_done_callback(lambda _: self._shared.pop(key, None))
        # One caller going away (a closed connection) must not cancel the others' answer.
        return await asyncio.shield(task)

    async def request(self, subject: str, payload: bytes, timeout: float | None = None) -> bytes:
        """A request to the owning service; raises ``TimeoutError`` or ``NoRespondersError``."""
        return await self.inbox.request(subject, payload, timeout or self.timeout)
