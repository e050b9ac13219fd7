"""The FastStream batch-consumer runtime keeps the semantics of the hand-written
``BatchWorker`` it replaced (whose cases in test_bus.py and test_health.py moved here), against
a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js.api import AckPolicy
from pymongo.errors import AutoReconnect

from kubeward.core.batch_consumers import BatchConsumer, BatchHandler, BatchSpec, BusRuntime
from kubeward.core.bus import ReplyInbox, dead_letter_id, ensure_streams
from kubeward.devstack.testing import acked_through, dead_letters, eventually
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply

SUBJECT = "kubeward.collect.test"


async def _pending(nc: NATS, durable: str) -> tuple[int, int]:
    info = await nc.jetstream().consumer_info("COLLECT", durable)
    return info.num_pending, info.num_ack_pending


def _acked(durable: str, nc: NATS, seq: int) -> Callable[[], Awaitable[bool]]:
    return lambda: acked_through(nc.jetstream(), "COLLECT", durable, seq)


@contextlib.asynccontextmanager
async def running(
    nats_url: str, nc: NATS, durable: str, handler: BatchHandler, **options: Any
) -> AsyncIterator[tuple[BusRuntime, BatchConsumer]]:
    """One consumer of ``SUBJECT`` on its own runtime, stopped on exit."""
    await ensure_streams(nc.jetstream(), bus.STREAMS)
    runtime = BusRuntime("test", nats_url)
    spec = BatchSpec(
        stream="COLLECT", durable=durable, filter_subject=SUBJECT, stage="test", **options
    )
    consumer = runtime.batch_consumer(spec, handler)
    await runtime.start()
    try:
        yield runtime, consumer
    finally:
        await runtime.stop()


async def test_consumer_is_declared_with_the_spec_on_the_server(nats_url: str, nc: NATS) -> None:
    async def handler(_msgs: list[Msg]) -> None:
        pass

    options = {"max_deliver": 3, "ack_wait": 7.0, "max_ack_pending": 123}
    async with running(nats_url, nc, "declared", handler, **options) as (_, consumer):
        info = await nc.jetstream().consumer_info("COLLECT", "declared")
        assert await consumer.is_healthy()
    config = info.config
    assert (config.durable_name, config.filter_subject) == ("declared", SUBJECT)
    assert (config.max_deliver, config.ack_wait, config.max_ack_pending) == (3, 7.0, 123)
    assert config.ack_policy == AckPolicy.EXPLICIT
    assert not await consumer.is_healthy()  # stopped


async def test_slow_batch_is_kept_in_progress_not_redelivered(nats_url: str, nc: NATS) -> None:
    deliveries: list[int] = []

    async def slow(msgs: list[Msg]) -> None:
        deliveries.extend(m.metadata.num_delivered for m in msgs)
        await asyncio.sleep(3.5)  # the work itself: three ack_wait periods long

    async with running(nats_url, nc, "slow", slow, ack_wait=1.0):
        ack = await nc.jetstream().publish(SUBJECT, b"x")
        await eventually(_acked("slow", nc, ack.seq), bool, timeout=20, what="batch acked")
    assert deliveries == [1]


async def test_failing_message_is_dead_lettered_after_max_deliver(nats_url: str, nc: NATS) -> None:
    """With today's headers and stable id, after growing nak delays."""
    calls = 0

    async def broken(_msgs: list[Msg]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    async with running(nats_url, nc, "broken", broken, max_deliver=2, retry_delay=0.1):
        ack = await nc.jetstream().publish(SUBJECT, b"payload")
        dead = await eventually(lambda: dead_letters(nc), lambda d: len(d) == 1, timeout=20)
        await eventually(_acked("broken", nc, ack.seq), bool, timeout=20, what="termed")
    headers = dead[0].headers or {}
    reason = "gave up after 2 deliveries: RuntimeError: boom"
    assert dead[0].data == b"payload"
    assert dead[0].subject == bus.deadletter_subject("test")
    assert headers[bus.HDR_REASON] == reason
    assert headers[bus.HDR_ORIGIN_SUBJECT] == SUBJECT
    assert headers[bus.HDR_ORIGIN_SEQ] == str(ack.seq)
    assert headers[bus.HDR_STAGE] == "test"
    assert headers[bus.HDR_MSG_ID] == dead_letter_id("test", SUBJECT, ack.seq, reason, b"payload")
    assert calls == 2


async def test_one_bad_message_of_a_batch_is_dead_lettered_alone(nats_url: str, nc: NATS) -> None:
    """Its neighbours in the fetched batch are acked at their first delivery; only the bad
    one is redelivered and, at the last delivery, dead-lettered."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    for body in (b"good-1", b"bad", b"good-2"):
        await js.publish(SUBJECT, body)
    stored: dict[bytes, list[int]] = {}
    sizes: list[int] = []

    async def handler(msgs: list[Msg]) -> None:
        sizes.append(len(msgs))
        if any(m.data == b"bad" for m in msgs):
            raise ValueError("cannot handle b'bad'")
        for m in msgs:
            stored.setdefault(m.data, []).append(m.metadata.num_delivered)

    async with running(nats_url, nc, "mixed", handler, max_deliver=2, retry_delay=0.1):
        dead = await eventually(lambda: dead_letters(nc), lambda d: len(d) == 1, timeout=20)
        await eventually(
            lambda: _pending(nc, "mixed"), lambda p: p == (0, 0), timeout=20, what="all settled"
        )
    assert sizes[0] == 3, "the three came in one batch"
    assert stored == {b"good-1": [1], b"good-2": [1]}
    assert dead[0].data == b"bad"
    reason = (dead[0].headers or {})[bus.HDR_REASON]
    assert reason == "gave up after 2 deliveries: ValueError: cannot handle b'bad'"


async def test_handler_waiting_forever_is_given_back(nats_url: str, nc: NATS) -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    deliveries: list[int] = []

    async def handler(msgs: list[Msg]) -> None:
        deliveries.extend(m.metadata.num_delivered for m in msgs)
        if len(deliveries) == 1:
            await never

    options = {"ack_wait": 1.0, "retry_delay": 0.1, "handler_timeout": 1.0}
    async with running(nats_url, nc, "stuck", handler, **options) as (_, consumer):
        ack = await nc.jetstream().publish(SUBJECT, b"x")
        await eventually(_acked("stuck", nc, ack.seq), bool, timeout=20, what="batch acked")
        assert await consumer.is_healthy()
    assert deliveries == [1, 2]


async def test_a_batch_is_held_through_a_database_outage_not_redelivered(
    nats_url: str, nc: NATS
) -> None:
    deliveries: list[int] = []
    tries = 0

    async def handler(msgs: list[Msg]) -> None:
        nonlocal tries
        tries += 1
        if tries <= 4:
            raise AutoReconnect("127.0.0.1:27017: connection closed")
        deliveries.extend(m.metadata.num_delivered for m in msgs)

    async with running(nats_url, nc, "outage", handler, max_deliver=2, retry_delay=0.05):
        ack = await nc.jetstream().publish(SUBJECT, b"x")
        await eventually(_acked("outage", nc, ack.seq), bool, timeout=20, what="acked")
    assert (tries, deliveries) == (5, [1])
    assert await dead_letters(nc) == []


async def test_a_window_fills_the_batch_from_a_trickle(nats_url: str, nc: NATS) -> None:
    """Messages published one after another within the window reach the handler as one
    batch."""
    sizes: list[int] = []

    async def handler(msgs: list[Msg]) -> None:
        sizes.append(len(msgs))

    async with running(nats_url, nc, "window", handler, window=3.0, batch=3):
        js = nc.jetstream()
        await js.publish(SUBJECT, b"1")
        await eventually(
            lambda: _pending(nc, "window"), lambda p: p == (0, 1), timeout=10, what="fetched"
        )
        await js.publish(SUBJECT, b"2")
        ack = await js.publish(SUBJECT, b"3")
        await eventually(_acked("window", nc, ack.seq), bool, timeout=20, what="acked")
    assert sizes == [3]


async def test_stop_finishes_the_batch_in_hand(nats_url: str, nc: NATS) -> None:
    """A drain (SIGTERM) waits for the batch being handled and acks it."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(_msgs: list[Msg]) -> None:
        started.set()
        await release.wait()

    async with running(nats_url, nc, "drain", handler) as (runtime, _):
        await nc.jetstream().publish(SUBJECT, b"x")
        await asyncio.wait_for(started.wait(), 10)
        stopping = asyncio.create_task(runtime.stop())
        await asyncio.sleep(0)
        assert not stopping.done()
        release.set()
        await asyncio.wait_for(stopping, 20)
    assert await _pending(nc, "drain") == (0, 0)


async def test_a_loop_that_does_not_come_round_is_reported_not_live(
    nats_url: str, nc: NATS
) -> None:
    release = asyncio.Event()

    async def stubborn(_msgs: list[Msg]) -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    options = {"ack_wait": 0.5, "handler_timeout": 0.5}
    async with running(nats_url, nc, "stubborn", stubborn, **options) as (_, consumer):
        assert await consumer.is_moving()
        await nc.jetstream().publish(SUBJECT, b"x")
        await eventually(
            consumer.is_moving, lambda live: not live, timeout=10, what="loop reported stuck"
        )
        assert await consumer.is_healthy()
        release.set()
        await eventually(consumer.is_moving, bool, timeout=10, what="loop moving again")


async def test_the_runtime_reports_its_connection_closed_for_good_but_not_its_own_stop(
    nats_url: str,
) -> None:
    """As ``serving`` does for the service's connection: the service exits to be restarted
    when the broker's connection closes for good; a drain on stop is no such loss."""
    lost: list[str] = []

    async def closed() -> None:
        lost.append("lost")

    quiet = BusRuntime("quiet", nats_url, closed_cb=closed)
    await quiet.start()
    await quiet.stop()
    runtime = BusRuntime("probe", nats_url, closed_cb=closed)
    await runtime.start()
    connection = runtime.broker.connection
    # Payload under the client-side check, headers pushing it over the server's limit:
    # the server answers with an error and closes the connection.
    with contextlib.suppress(Exception):
        await connection.publish(
            SUBJECT, b"x" * (connection.max_payload - 10), headers={"pad": "p" * 200}
        )
        await connection.flush(timeout=2)
    await eventually(lambda: _list(lost), lambda got: got == ["lost"], timeout=15)
    await runtime.stop()
    assert lost == ["lost"]


async def _list(items: list[str]) -> list[str]:
    return list(items)


class Ask(msgspec.Struct):
    n: int


async def test_requests_are_answered_on_the_runtime_whole_typed_and_concurrently(
    nats_url: str, nc: NATS
) -> None:
    """Request/reply on the runtime: a reply bigger than a message arrives whole, a request
    that does not decode is a 400 naming the field, a failing handler a 500, and a slow
    request does not hold up the next one."""
    release = asyncio.Event()

    async def answer(ask: Ask) -> Reply:
        if ask.n == 0:
            await release.wait()
        if ask.n < 0:
            raise ValueError("negative")
        body = msgspec.json.encode("x" * ask.n)
        return Reply(body=msgspec.Raw(body))

    runtime = BusRuntime("test", nats_url)
    runtime.replies("kubeward.rpc.test.runtime", Ask, answer, queue="q")
    await runtime.start()
    inbox = ReplyInbox(nc)
    await inbox.start()
    try:

        async def ask(payload: bytes) -> Reply:
            raw = await inbox.request("kubeward.rpc.test.runtime", payload, timeout=10)
            return msgspec.json.decode(raw, type=Reply)

        slow = asyncio.create_task(ask(b'{"n": 0}'))
        big = 3 * nc.max_payload
        whole = await ask(msgspec.json.encode({"n": big}))
        assert msgspec.json.decode(whole.body) == "x" * big
        bad = await ask(b'{"n": "x"}')
        assert (bad.status, bad.detail) == (
            400,
            "Invalid request: Expected `int`, got `str` - at `$.n`",
        )
        failed = await ask(b'{"n": -1}')
        assert (failed.status, failed.detail) == (500, "Internal server error")
        assert not slow.done()
        release.set()
        assert msgspec.json.decode((await slow).body) == ""
    finally:
        await inbox.stop()
        await runtime.stop()
    with contextlib.suppress(NoRespondersError, TimeoutError):
        await nc.request("kubeward.rpc.test.runtime", b'{"n": 1}', timeout=1)
        raise AssertionError("a stopped runtime still answers")
