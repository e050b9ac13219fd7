"""``kubeward.core.mongo`` look-ups against the session's SecantusDB."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.devstack.testing import Commands


async def test_find_in_asks_in_lists_of_in_chunk_and_finds_every_match(
    mongo_url: str, mongo_db_name: str
) -> None:
    finds = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[finds])
    col = client[mongo_db_name]["find_in"]
    await col.insert_many([{"_id": i, "even": i % 2 == 0, "v": f"v{i}"} for i in range(300)])
    wanted = [*range(0, 300, 2), *range(1, 300, 2), 1000, 1001]  # 302 ids, two not stored

    everything = [doc async for doc in mongo.find_in(col, "_id", wanted, {"v": 1})]
    evens = [d async for d in mongo.find_in(col, "_id", wanted, {"_id": 1}, {"even": True})]
    none = [doc async for doc in mongo.find_in(col, "_id", [])]
    await client.close()

    assert sorted(d["_id"] for d in everything) == list(range(300))
    assert all(d == {"_id": d["_id"], "v": f"v{d['_id']}"} for d in everything)
    assert sorted(d["_id"] for d in evens) == list(range(0, 300, 2))
    assert none == []
    sizes = [len(f["_id"]["$in"]) for f in finds.find_filters]
    assert sizes == [100, 100, 100, 2] * 2  # 302 ids, twice; nothing asked for none
    assert all(f["even"] is True for f in finds.find_filters[4:])


async def test_insert_new_stores_the_rest_and_names_what_was_there(
    mongo_url: str, mongo_db_name: str
) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    db = client[mongo_db_name]
    col = db["insert_new"]
    await col.create_index("name", unique=True)
    await col.insert_many([{"_id": 2, "name": "b"}, {"_id": 9, "name": "taken"}])
    docs = [
        {"_id": 1, "name": "a"},
        {"_id": 2, "name": "b"},  # the same _id
        {"_id": 3, "name": "taken"},  # another unique index
        {"_id": 4, "name": "d"},
    ]
    try:
        assert await mongo.insert_new(col, docs) == {1, 2}
        assert await mongo.insert_new(col, []) == set()
        assert sorted([d["_id"] async for d in col.find({}, {"_id": 1})]) == [1, 2, 4, 9]
        # Any other refusal is an error, not "already stored".
        await db.create_collection("checked", validator={"$jsonSchema": {"required": ["name"]}})
        with pytest.raises(BulkWriteError):
            await mongo.insert_new(db["checked"], [{"_id": 1}])
    finally:
        await client.drop_database(mongo_db_name)
        await client.close()
