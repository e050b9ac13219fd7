"""Ids from blocks reserved ahead (``IdBlocks``) against a real MongoDB (SecantusDB): unique
and increasing, one counter round trip per block while records keep coming, none handed
out past their age, and no gaps for a writer that creates a record now and then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import mongo
from kubeward.core.id_blocks import IdBlocks
from kubeward.core.mongo import Document

NAME = "things"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def counters(mongo_url: str, mongo_db_name: str) -> AsyncIterator[AsyncCollection[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    collection = client[mongo_db_name]["counters"]
    await mongo.ensure_counter(collection, NAME)
    yield collection
    await client.drop_database(mongo_db_name)
    await client.close()


async def counter(counters: AsyncCollection[Document]) -> int:
    doc = await counters.find_one({"_id": NAME})
    assert doc is not None
    return int(doc["seq"])


async def test_a_steady_stream_reserves_once_per_block(
    counters: AsyncCollection[Document],
) -> None:
    blocks = IdBlocks(counters, NAME, clock=Clock(), largest=64)
    taken = [await blocks.take(1) for _ in range(300)]
    ids = [i for batch in taken for i in batch]
    assert ids == sorted(ids) and len(set(ids)) == 300
    # Blocks of 1, 2, 4, ... 64 ids (127 in 7 reservations), then 64 at a time: 300 ids
    # in 10 reservations instead of 300.
    assert blocks.reservations == 10
    assert await counter(counters) >= ids[-1]


async def test_concurrent_takes_never_share_an_id(counters: AsyncCollection[Document]) -> None:
    blocks = IdBlocks(counters, NAME, clock=Clock())
    batches = await asyncio.gather(*(blocks.take(n % 5 + 1) for n in range(40)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == sum(n % 5 + 1 for n in range(40))
    assert all(batch == sorted(batch) for batch in batches)
    # Another process's ids (its own blocks, or a plain reservation) are others still.
    other = await mongo.reserve_ids(counters, NAME, 10)
    assert not set(other) & set(ids)


async def test_ids_older_than_max_age_are_never_handed_out(
    counters: AsyncCollection[Document],
) -> None:
    clock = Clock()
    blocks = IdBlocks(counters, NAME, clock=clock, max_age=1.0)
    for _ in range(4):
        await blocks.take(1)  # the last one reserved a block with ids to spare
    reserved = await counter(counters)
    clock.now += 1.5
    [late] = await blocks.take(1)
    assert late > reserved, "an id reserved before the pause was handed out after it"
    assert blocks.reservations == 4


async def test_a_record_now_and_then_leaves_no_gaps(counters: AsyncCollection[Document]) -> None:
    clock = Clock()
    blocks = IdBlocks(counters, NAME, clock=clock, max_age=1.0)
    ids = []
    for _ in range(8):
        ids += await blocks.take(1)
        clock.now += 5.0
    assert ids == list(range(1, 9))
    assert await counter(counters) == 8


async def test_the_block_shrinks_back_after_ids_expire(
    counters: AsyncCollection[Document],
) -> None:
    clock = Clock()
    blocks = IdBlocks(counters, NAME, clock=clock, max_age=1.0)
    for _ in range(40):  # a burst grows the block
        await blocks.take(1)
    clock.now += 5.0
    before = await counter(counters)
    for _ in range(3):  # then a report now and then: each expiry halves it
        await blocks.take(1)
        clock.now += 5.0
    wasted_in_third = await counter(counters)
    await blocks.take(1)
    after = await counter(counters)
    assert after - wasted_in_third < (wasted_in_third - before) / 3
