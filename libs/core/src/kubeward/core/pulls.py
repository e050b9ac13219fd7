"""Pull requests to a durable JetStream consumer, each answered on its own reply subject.

Hand-written because nats-py's ``PullSubscription.fetch`` (2.16, the newest) can stall: all
its pull requests share one inbox, so it cannot tell which request a status message ends.
A request an earlier fetch left open on the server (asked for a batch, got fewer) takes
the next message; the fetch in hand receives it, then waits for the end of a batch that
belongs to the other request, until that one expires: up to the whole long-poll timeout
(nats-py issues #933 and #986, the second open). Seen here as a failure report that took
150-350 ms instead of 5 ms whenever it arrived a few milliseconds after the one before.

Here every request has its own reply subject under one wildcard subscription. Every
message any request delivers is kept and handed over (the server sent it to this
consumer; dropping it would only delay it to a redelivery), but a status (404 no messages,
408 expired) ends only the request it names. A fetch asks for what the stream holds now
(``no_wait``); only when that is nothing does it long-poll, for one message, then asks for
the rest of the batch without waiting. So a request outlives its fetch only when another
request's delivery answered the fetch first (or the wait for the server's answer ran out),
and only until its expiry; what it still delivers is taken by the next fetch.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX, Header, StatusCode

ANSWER_GRACE = 0.02
"""Seconds a long poll waits past its expiry for the server's word that it expired."""
_ENDS = frozenset({StatusCode.NO_MESSAGES.value, StatusCode.REQUEST_TIMEOUT.value})
_HEARTBEAT = StatusCode.CONTROL_MESSAGE.value


class PullError(Exception):
    """The server refused a pull request (the consumer was deleted, a leader changed, ...)."""

    def __init__(self, status: str, description: str) -> None:
        super().__init__(f"pull request refused: {status} {description}".rstrip())
        self.status = status
        self.description = description


class Puller:
    """Fetches batches from one durable pull consumer (see the module docstring)."""

    def __init__(self, nc: NATS, stream: str, durable: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._nc = nc
        self._next_subject = f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._requests = itertools.count()
        self._arrived: deque[Msg] = deque()
        self._signal = asyncio.Event()
        self._sub: Subscription | None = None

    @property
    def inbox(self) -> str:
        """The prefix of this puller's reply subjects (``<inbox>.<request number>``)."""
        return self._inbox

    async def open(self) -> None:
        """Subscribe to the reply subjects (before the first fetch)."""
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._arrive)

    async def close(self) -> None:
        """Unsubscribe; messages delivered and not fetched are redelivered after ``ack_wait``."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages: those the stream holds now, else the first to come within
        ``timeout`` seconds with whatever followed it.

        ``[]`` when the server said nothing came; ``TimeoutError`` when it did not answer at
        all (it is restarting, or the connection is down)."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        msgs = self._take(batch)
        if len(msgs) < batch:
            msgs += (await self._pull(batch - len(msgs), None, timeout))[0]
        if msgs:
            return msgs
        msgs, answered = await self._pull(1, timeout, timeout + ANSWER_GRACE)
        if not msgs:
            if answered:
                return []
            raise TimeoutError
        if batch > 1:
            msgs += (await self._pull(batch - 1, None, timeout))[0]
        return msgs

    async def _arrive(self, msg: Msg) -> None:
        self._arrived.append(msg)
        self._signal.set()

    def _take(self, limit: int) -> list[Msg]:
        """Messages already here (earlier requests' late deliveries); statuses here all end
        requests no one waits for."""
        taken: list[Msg] = []
        while self._arrived and len(taken) < limit:
            msg = self._arrived.popleft()
            if _status(msg) is None:
                taken.append(msg)
        return taken

    async def _pull(self, batch: int, expires: float | None, wait: float) -> tuple[list[Msg], bool]:
        """One pull request for ``batch`` messages, long-polling ``expires`` seconds (``None``:
        ``no_wait``): its messages until it ends, is filled, or ``wait`` seconds pass, and
        whether the server answered (a message, or the request's end).

        A request given up on (no answer within ``wait``: its expiry and ours raced, or
        the connection dropped) leaves nothing waiting on it: whatever it still delivers
        is taken by the next fetch."""
        reply = f"{self._inbox}.{next(self._requests)}"
        request: dict[str, object] = {"batch": batch}
        if expires is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(expires * 1e9)
        await self._nc.publish(self._next_subject, msgspec.json.encode(request), reply=reply)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        got: list[Msg] = []
        while len(got) < batch:
            while self._arrived and len(got) < batch:
                msg = self._arrived.popleft()
                status = _status(msg)
                if status is None:
                    got.append(msg)
                elif msg.subject != reply or status == _HEARTBEAT:
                    continue  # another request's end, long past
                elif status in _ENDS:
                    return got, True
                else:
                    raise PullError(status, (msg.headers or {}).get(Header.DESCRIPTION, ""))
            if len(got) >= batch:
                break
            self._signal.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._signal.wait()
            except TimeoutError:
                break
        return got, bool(got)


def _status(msg: Msg) -> str | None:
    return msg.headers.get(Header.STATUS) if msg.headers else None
