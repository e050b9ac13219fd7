"""The gateway's bus link against a real nats-server: shared reads."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kubeward.gateway.buslink import BusLink
from kubeward.schemas.replies import Reply

SUBJECT = "kubeward.test.shared-list"


async def test_the_same_read_in_flight_is_asked_once_and_answered_to_everyone(
    nc: NATS,
) -> None:
    asked: list[bytes] = []
    release, both_asked = asyncio.Event(), asyncio.Event()
    answering: set[asyncio.Task[None]] = set()

    async def answer(msg: Msg) -> None:
        await release.wait()
        body = msgspec.json.encode({"page": msg.data.decode()})
        await msg.respond(msgspec.json.encode(Reply(status=200, body=msgspec.Raw(body))))

    async def responder(msg: Msg) -> None:
        asked.append(msg.data)
        if len(asked) == 2:
            both_asked.set()
        task = asyncio.create_task(answer(msg))  # callbacks run one at a time
        answering.add(task)
        task.add_done_callback(answering.discard)

    sub = await nc.subscribe(SUBJECT, cb=responder)
    link = BusLink(nc, timeout=5.0)
    await link.inbox.start()
    try:
        same = [asyncio.create_task(link.ask_shared(SUBJECT, b"page-1", "down")) for _ in range(5)]
        other = asyncio.create_task(link.ask_shared(SUBJECT, b"page-2", "down"))
        await asyncio.wait_for(both_asked.wait(), 5)
        same[0].cancel()  # one caller going away does not cancel the others' answer
        with contextlib.suppress(asyncio.CancelledError):
            await same[0]
        release.set()
        answers = await asyncio.gather(*same[1:], other)
        assert sorted(asked) == [b"page-1", b"page-2"]
        assert [msgspec.json.decode(bytes(a.body)) for a in answers] == [
            *[{"page": "page-1"}] * 4,
            {"page": "page-2"},
        ]
        # Once answered, the next read is asked again (nothing is cached).
        assert (await link.ask_shared(SUBJECT, b"page-1", "down")).status == 200
        assert asked.count(b"page-1") == 2
    finally:
        await link.inbox.stop()
        await sub.unsubscribe()
