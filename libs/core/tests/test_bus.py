"""Integration tests of the bus helpers against a real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError

from kubeward.core.batch_consumers import BusRuntime
from kubeward.core.bus import (
    NoRespondersError,
    ReplyInbox,
    RequestHandler,
    dead_letter,
    ensure_streams,
    publish_all,
    publish_reply,
    settled,
)
from kubeward.core.mongo import Document
from kubeward.core.service import nothing, serving
from kubeward.core.settings import BaseSettings
from kubeward.devstack.testing import dead_letters, eventually
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply

SUBJECT = "kubeward.collect.test"


@contextlib.asynccontextmanager
async def answering_on(
    nats_url: str, subject: str, handler: RequestHandler, **options: Any
) -> AsyncIterator[NATS]:
    """``handler`` answering ``subject`` on a runtime of its own for the block; yields a
    connection to ask it on, made after the responder started (one made before is
    :func:`test_a_subscription_settled_is_seen_by_an_older_connection`'s case)."""
    runtime = BusRuntime("test", nats_url)
    runtime.requests(subject, handler, "test", **options)
    await runtime.start()
    asker = await nats.connect(nats_url)
    try:
        yield asker
    finally:
        await asker.close()
        await runtime.stop()


async def test_ensure_streams_is_idempotent(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    await ensure_streams(js, bus.STREAMS)
    names = sorted(info.config.name or "" for info in await js.streams_info())
    assert names == sorted(s.name for s in bus.STREAMS)


async def test_a_subscription_settled_is_seen_by_an_older_connection(nats_url: str) -> None:
    """A request sent right after :func:`settled` on a fresh server is answered, from a
    connection made before the responder subscribed (what the gateway's is to a restarted
    service). With ``flush()`` alone, some of these were told "no responders"."""
    asker = await nats.connect(nats_url)
    responder = await nats.connect(nats_url)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    unanswered: list[int] = []
    for i in range(200):
        await responder.subscribe(f"kubeward.rpc.test.settled.{i}", cb=echo)
        await settled(responder)
        try:
            await asker.request(f"kubeward.rpc.test.settled.{i}", b"x", timeout=5)
        except nats.errors.NoRespondersError:
            unanswered.append(i)
    await responder.close()
    await asker.close()
    assert unanswered == []


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


async def test_pipelined_publishes_whose_acks_never_come_leave_publishing_working(
    nc: NATS,
) -> None:
    """PubAcks lost (as in a server restart): a subscriber takes the messages and never
    answers. More of them than nats-py's 4000 pending async publishes: each comes back as
    a ``TimeoutError`` in bounded time, and publishing works afterwards (with
    ``publish_async`` the 4001st publish waited forever)."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    swallowed = 0

    async def swallow(_msg: Msg) -> None:
        nonlocal swallowed
        swallowed += 1

    await nc.subscribe("lost.acks", cb=swallow)
    lost = [("lost.acks", b"x", None)] * 4500
    outcomes = await asyncio.wait_for(publish_all(js, lost, timeout=0.5), 60)
    assert len(outcomes) == 4500
    assert all(isinstance(o, TimeoutError) for o in outcomes)
    assert swallowed == 4500

    fine = [
        (bus.feed_subject("probe"), str(i).encode(), {bus.HDR_MSG_ID: f"p-{i}"}) for i in range(5)
    ]
    acks = await asyncio.wait_for(publish_all(js, [*fine, *fine[:1]], timeout=5), 30)
    assert [a.seq for a in acks[:5]] == sorted(a.seq for a in acks[:5])
    assert acks[5].duplicate  # the same message id again: the stream drops it
    assert (await js.stream_info(bus.FEED.name)).state.messages == 5


async def test_dead_letter_of_a_message_near_max_payload_fits_and_keeps_the_connection(
    nc: NATS,
) -> None:
    """The dead letter of a message just under the server's limit would exceed it with
    its headers; the server would close the connection and the service would stall."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    data = b"x" * (nc.max_payload - 16)
    await dead_letter(js, "test", data, "malformed JSON: " + "y" * 1500, SUBJECT, 42)
    assert nc.is_connected
    (dead,) = await eventually(lambda: dead_letters(nc), lambda d: len(d) == 1)
    headers = dead.headers or {}
    assert headers[bus.HDR_TRUNCATED] == str(len(data))
    assert headers[bus.HDR_ORIGIN_SEQ] == "42"
    assert 0 < len(dead.data) < len(data)
    assert data.startswith(dead.data)


async def test_dead_letters_dedup_by_content_not_by_process(nc: NATS) -> None:
    """The same dead letter twice is stored once; two identical records of one message
    (their reasons name their index) are two dead letters."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    await dead_letter(js, "test", b"1", "[0] not an object", SUBJECT, 5)
    await dead_letter(js, "test", b"1", "[0] not an object", SUBJECT, 5)
    await dead_letter(js, "test", b"1", "[1] not an object", SUBJECT, 5)
    dead = await eventually(lambda: dead_letters(nc), lambda d: len(d) >= 2)
    assert sorted((m.headers or {})[bus.HDR_REASON] for m in dead) == [
        "[0] not an object",
        "[1] not an object",
    ]


def test_dead_letter_id_is_the_same_in_every_process() -> None:
    """Python salts ``hash()`` per process; a restarted or second replica must produce the
    id the first one did, or the stream's dedup cannot recognise its dead letter."""
    code = (
        "from kubeward.core.bus import dead_letter_id;"
        "print(dead_letter_id('ingest', 'kubeward.collect.x', 9, 'why', b'data'))"
    )
    ids = {
        subprocess.run(
            [sys.executable, "-c", code],
            env=os.environ | {"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(ids) == 1
    assert ids.pop().startswith("dl-ingest-9-")


async def test_service_is_told_when_the_server_closes_its_connection(nats_url: str) -> None:
    """nats-py does not reconnect after some server errors; ``serving`` reports it so
    ``run_service`` can exit and be restarted instead of living on without a bus."""
    lost = asyncio.Event()
    async with serving("probe", BaseSettings(nats_url=nats_url), nothing, lost.set) as ctx:
        # Payload under the client-side check, headers pushing it over the server's limit:
        # the server answers with an error and closes the connection.
        big = b"x" * (ctx.nc.max_payload - 10)
        with contextlib.suppress(Exception):
            await ctx.nc.publish(SUBJECT, big, headers={"pad": "p" * 200})
            await ctx.nc.flush(timeout=2)
        await asyncio.wait_for(lost.wait(), timeout=15)
    assert lost.is_set()


async def test_a_request_failing_on_an_unreachable_database_is_a_503(nats_url: str) -> None:
    async def handler(_msg: Msg) -> bytes:
        try:
            raise ServerSelectionTimeoutError("no servers")
        except ServerSelectionTimeoutError as exc:
            raise RuntimeError("while listing") from exc

    async with answering_on(nats_url, "kubeward.rpc.test.outage", handler) as nc:
        reply = msgspec.json.decode(
            (await nc.request("kubeward.rpc.test.outage", b"", 5)).data, type=Reply
        )
    assert reply.status == 503


async def test_a_listing_past_its_time_limit_is_aborted_with_a_503(
    nats_url: str, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """The database aborts the query (maxTimeMS) instead of scanning on for everyone."""
    col = mongo[mongo_db_name]["slow"]
    await col.insert_many([{"n": i, "text": f"row {i} " * 20} for i in range(20_000)])

    async def scan(_msg: Msg) -> bytes:
        found = await col.count_documents({"text": {"$regex": "no such row"}})
        return str(found).encode()

    async with answering_on(nats_url, "kubeward.rpc.test.scan", scan, time_limit=0.02) as nc:
        reply = msgspec.json.decode(
            (await nc.request("kubeward.rpc.test.scan", b"", 30)).data, type=Reply
        )
    assert (reply.status, reply.detail) == (503, "The database did not answer in time")
