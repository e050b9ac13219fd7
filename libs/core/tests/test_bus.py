"""Integration tests of the bus helpers against a real nats-server with JetStream."""

from __future__ import annotations

import asyncio

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kubeward.core.bus import (
    BatchWorker,
    NoRespondersError,
    ReplyInbox,
    ensure_streams,
    publish_reply,
    serve_replies,
    serve_requests,
)
from kubeward.devstack.testing import eventually
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply

SUBJECT = "kubeward.collect.test"


async def dead_letters(nc: NATS) -> list[Msg]:
    """Everything in the dead-letter stream so far."""
    info = await nc.jetstream().stream_info(bus.DEADLETTER.name)
    if not info.state.messages:
        return []
    sub = await nc.jetstream().pull_subscribe(bus.DEADLETTER_PREFIX + ">", stream="DEADLETTER")
    msgs = await sub.fetch(info.state.messages, timeout=5)
    await sub.unsubscribe()
    return msgs


async def test_ensure_streams_is_idempotent(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    await ensure_streams(js, bus.STREAMS)
    names = sorted(info.config.name or "" for info in await js.streams_info())
    assert names == sorted(s.name for s in bus.STREAMS)


async def test_slow_batch_is_kept_in_progress_not_redelivered(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    deliveries: list[int] = []

    async def slow(msgs: list[Msg]) -> None:
        deliveries.extend(m.metadata.num_delivered for m in msgs)
        await asyncio.sleep(3.5)  # the work itself: three ack_wait periods long

    worker = BatchWorker(
        js,
        stream="COLLECT",
        durable="slow",
        filter_subject=SUBJECT,
        handler=slow,
        stage="test",
        ack_wait=1.0,
    )
    await worker.start()
    await js.publish(SUBJECT, b"x")
    await eventually(
        lambda: _pending(nc, "slow"), lambda p: p == (0, 0), timeout=20, what="batch acked"
    )
    await worker.stop()
    assert deliveries == [1]


async def _pending(nc: NATS, durable: str) -> tuple[int, int]:
    info = await nc.jetstream().consumer_info("COLLECT", durable)
    return info.num_pending, info.num_ack_pending


async def test_failing_batch_is_dead_lettered_after_max_deliver(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    calls = 0

    async def broken(msgs: list[Msg]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    worker = BatchWorker(
        js,
        stream="COLLECT",
        durable="broken",
        filter_subject=SUBJECT,
        handler=broken,
        stage="test",
        max_deliver=2,
        retry_delay=0.1,
    )
    await worker.start()
    ack = await js.publish(SUBJECT, b"payload")
    dead = await eventually(lambda: dead_letters(nc), lambda d: len(d) == 1, timeout=20)
    await worker.stop()
    headers = dead[0].headers or {}
    assert dead[0].data == b"payload"
    assert headers[bus.HDR_REASON] == "gave up after 2 deliveries: RuntimeError: boom"
    assert headers[bus.HDR_ORIGIN_SEQ] == str(ack.seq)
    assert calls == 2


async def test_large_replies_arrive_whole(nc: NATS) -> None:
    big = bytes(range(256)) * (3 * nc.max_payload // 256 + 7)

    async def answer(_msg: Msg) -> bytes:
        return big

    await serve_requests(nc, "kubeward.rpc.test.big", answer, queue="q")
    inbox = ReplyInbox(nc)
    await inbox.start()
    assert await inbox.request("kubeward.rpc.test.big", b"", timeout=10) == big
    await inbox.stop()


async def test_typed_requests_get_400_for_bad_input(nc: NATS) -> None:
    class Ask(msgspec.Struct):
        n: int

    async def double(ask: Ask) -> Reply:
        return Reply(body=msgspec.Raw(msgspec.json.encode(ask.n * 2)))

    await serve_replies(nc, "kubeward.rpc.test.double", Ask, double, queue="q")
    good = await nc.request("kubeward.rpc.test.double", b'{"n": 21}', timeout=5)
    assert msgspec.json.decode(msgspec.json.decode(good.data, type=Reply).body) == 42
    bad = msgspec.json.decode(
        (await nc.request("kubeward.rpc.test.double", b'{"n": "x"}', timeout=5)).data, type=Reply
    )
    assert (
        bad.status == 400 and bad.detail == "Invalid request: Expected `int`, got `str` - at `$.n`"
    )


async def test_request_without_responder_fails_fast(nc: NATS) -> None:
    inbox = ReplyInbox(nc)
    await inbox.start()
    try:
        await inbox.request("kubeward.rpc.nobody", b"", timeout=10)
    except NoRespondersError:
        pass
    else:
        raise AssertionError("expected NoRespondersError")  # not a TimeoutError
    await inbox.stop()


async def test_reply_split_into_parts_uses_headers(nc: NATS) -> None:
    sub = await nc.subscribe("kubeward.test.parts")
    await publish_reply(nc, "kubeward.test.parts", b"y" * (nc.max_payload + 10))
    first = await sub.next_msg(timeout=5)
    second = await sub.next_msg(timeout=5)
    assert (first.headers or {})[bus.HDR_PARTS] == "2"
    assert [(m.headers or {})[bus.HDR_PART] for m in (first, second)] == ["0", "1"]
