"""``Puller`` against a real nats-server: batches, timeouts, refusals, and no stall behind a
pull request an earlier fetch left open on the server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from kubeward.core.pulls import Puller, PullError

STALL_BOUND = 10.0
"""Seconds a fetch may take in the stall cases, a third of the open request's expiry: a
fetch waiting for that request's end would take all of it."""
OPEN_FOR = 30.0


@pytest.fixture
async def stream(nc: NATS) -> AsyncIterator[str]:
    """A stream of its own (``<name>.>``) with one durable pull consumer named ``work``."""
    name = f"PULLS{uuid.uuid4().hex[:8].upper()}"
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"]))
    await js.add_consumer(
        name, ConsumerConfig(durable_name="work", ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    )
    try:
        yield name
    finally:
        await js.delete_stream(name)


@pytest.fixture
async def puller(nc: NATS, stream: str) -> AsyncIterator[Puller]:
    puller = Puller(nc, stream, "work")
    await puller.open()
    try:
        yield puller
    finally:
        await puller.close()


async def _publish(nc: NATS, stream: str, *bodies: bytes) -> None:
    js = nc.jetstream()
    for body in bodies:
        await js.publish(f"{stream}.x", body)


async def _leave_open(nc: NATS, stream: str, inbox: str, batch: int = 10) -> None:
    """A pull request for ``batch`` messages, ``OPEN_FOR`` seconds, answered on ``inbox``:
    what an earlier fetch that got fewer than it asked for leaves on the server."""
    request = {"batch": batch, "expires": int(OPEN_FOR * 1e9)}
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.work"
    await nc.publish(subject, msgspec.json.encode(request), reply=inbox)
    await nc.flush()


async def test_fetch_returns_what_the_stream_holds_up_to_the_batch(
    nc: NATS, stream: str, puller: Puller
) -> None:
    await _publish(nc, stream, b"0", b"1", b"2", b"3", b"4")
    first = await puller.fetch(3, timeout=5)
    rest = await puller.fetch(10, timeout=5)
    assert [m.data for m in first] == [b"0", b"1", b"2"]
    assert [m.data for m in rest] == [b"3", b"4"]
    for msg in first + rest:
        await msg.ack_sync()
    info = await nc.jetstream().consumer_info(stream, "work")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_fetch_long_polls_for_the_first_message_then_takes_the_rest(
    nc: NATS, stream: str, puller: Puller
) -> None:
    fetching = asyncio.create_task(puller.fetch(10, timeout=OPEN_FOR))
    await asyncio.sleep(0)  # the fetch is waiting before anything is published
    await _publish(nc, stream, b"0")
    got = await asyncio.wait_for(fetching, STALL_BOUND)
    assert [m.data for m in got] == [b"0"]


async def test_fetch_returns_nothing_when_nothing_comes(stream: str, puller: Puller) -> None:
    assert await puller.fetch(10, timeout=0.2) == []


async def test_no_stall_behind_a_request_left_open(nc: NATS, stream: str, puller: Puller) -> None:
    """The open request is older, so the server hands it the next message; the fetch in
    progress takes that message and does not wait for the open request's batch to end."""
    await _leave_open(nc, stream, f"{puller.inbox}.earlier")
    fetching = asyncio.create_task(puller.fetch(10, timeout=OPEN_FOR))
    await asyncio.sleep(0)
    await _publish(nc, stream, b"0")
    got = await asyncio.wait_for(fetching, STALL_BOUND)
    assert [m.data for m in got] == [b"0"]
    # The open request takes the next one too; the next fetch hands it over.
    await _publish(nc, stream, b"1")
    again = await asyncio.wait_for(puller.fetch(10, timeout=OPEN_FOR), STALL_BOUND)
    assert [m.data for m in again] == [b"1"]


async def test_a_late_delivery_is_handed_to_the_next_fetch(
    nc: NATS, stream: str, puller: Puller
) -> None:
    await _leave_open(nc, stream, f"{puller.inbox}.earlier")
    await _publish(nc, stream, b"0", b"1")  # delivered to the open request while no fetch runs
    got: list[bytes] = []
    while len(got) < 2:
        got += [m.data for m in await asyncio.wait_for(puller.fetch(10, OPEN_FOR), STALL_BOUND)]
    assert got == [b"0", b"1"]


async def test_a_refused_request_raises(nc: NATS, stream: str) -> None:
    missing = Puller(nc, stream, "no-such-consumer")
    await missing.open()
    try:
        with pytest.raises(PullError) as refused:
            await missing.fetch(10, timeout=5)
    finally:
        await missing.close()
    assert refused.value.status in {"404", "409", "503"}


async def test_a_batch_below_one_is_refused(puller: Puller) -> None:
    with pytest.raises(ValueError, match="batch"):
        await puller.fetch(0, timeout=1)
