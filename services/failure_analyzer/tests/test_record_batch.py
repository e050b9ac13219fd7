"""Storing a fetched batch of reports together (``FailureStore.record_many``) against a real
MongoDB (SecantusDB): every report stored once, in item order, whatever goes wrong with
one of them, and a redelivered batch changes nothing. A store writes a repeat report of an
open record it remembers without reading it first, and notices when another replica (a
second store on the same database) changed the record meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack.testing import Commands
from kubeward.failure_analyzer.store import (
    COLLECTION,
    COUNTERS,
    FailureStore,
    Outcome,
    Recording,
    Solution,
)
from kubeward.schemas.pod_failures import FailureReportEnvelope, PodFailureReport

AT_US = 1_800_000_000_000_000
SOLUTION = Solution(text="**Fix it**", source="offline", analyzer="test")


def recording(pod: str, seq: int, reason: str = "CrashLoopBackOff") -> Recording:
    """A report about ``shop/<pod>`` that came with collect sequence ``seq``."""
    report = msgspec.convert(
        {"pod_name": pod, "namespace": "shop", "failure_reason": reason}, PodFailureReport
    )
    envelope = FailureReportEnvelope(origin_seq=seq, origin_us=AT_US + seq * 1000, report=report)
    return Recording(envelope=envelope, solution=SOLUTION)


@pytest.fixture
async def store(mongo_url: str, mongo_db_name: str) -> AsyncIterator[FailureStore]:
    """A store on a database of its own, indexes in place."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    store = FailureStore(client[mongo_db_name])
    await store.ensure_indexes()
    yield store
    await client.drop_database(mongo_db_name)
    await client.close()


@pytest.fixture
async def replica(mongo_url: str, mongo_db_name: str) -> AsyncIterator[FailureStore]:
    """A second store on ``store``'s database, as another failure-analyzer replica has."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    yield FailureStore(client[mongo_db_name])
    await client.close()


@pytest.fixture
async def watched(
    mongo_url: str, mongo_db_name: str, store: FailureStore
) -> AsyncIterator[tuple[FailureStore, Commands]]:
    """A store on ``store``'s database, and the commands its client sends."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    yield FailureStore(client[mongo_db_name]), commands
    await client.close()


async def assert_stored(store: FailureStore, outcomes: list[tuple[Outcome, Document]]) -> None:
    """Each record answered is the record stored."""
    for _, doc in outcomes:
        assert await store.get(doc["_id"]) == doc


async def test_a_batch_creates_and_updates_in_item_order(store: FailureStore) -> None:
    ((_, first),) = await store.record_many([recording("a", 1)])
    outcomes = await store.record_many(
        [recording("b", 2), recording("a", 3, "OOMKilled"), recording("c", 4)]
    )
    assert [(o, d["pod_name"]) for o, d in outcomes] == [
        (Outcome.CREATED, "b"),
        (Outcome.UPDATED, "a"),
        (Outcome.CREATED, "c"),
    ]
    updated = outcomes[1][1]
    assert (updated["_id"], updated["report_count"]) == (first["_id"], 2)
    assert updated["failure_reason"] == "OOMKilled"
    assert updated["applied"] == ["1:0", "3:0"]
    ids = [d["_id"] for _, d in outcomes]
    assert len(set(ids)) == 3
    for _, doc in outcomes:
        assert await store.get(doc["_id"]) == doc


async def test_a_redelivered_batch_counts_nothing_twice(store: FailureStore) -> None:
    await store.record_many([recording("a", 1)])
    batch = [recording("a", 5), recording("b", 5), recording("c", 6)]
    first = await store.record_many(batch)
    counter = await store._counters.find_one({"_id": COLLECTION})
    again = await store.record_many(batch)
    assert [o for o, _ in first] == [Outcome.UPDATED, Outcome.CREATED, Outcome.CREATED]
    assert [o for o, _ in again] == [Outcome.DUPLICATE] * 3
    assert [d["_id"] for _, d in again] == [d["_id"] for _, d in first]
    counts = {d["pod_name"]: d["report_count"] for _, d in again}
    assert counts == {"a": 2, "b": 1, "c": 1}
    # No id was reserved for the redelivered reports.
    assert await store._counters.find_one({"_id": COLLECTION}) == counter


async def test_a_report_whose_write_fails_is_stored_alone_and_the_others_are_kept(
    store: FailureStore,
) -> None:
    # The id counter lags behind a record (as after restoring an older counters
    # collection): the batch's first new record gets an id that is taken.
    ((_, taken),) = await store.record_many([recording("old", 1)])
    await store._col.update_one({"_id": taken["_id"]}, {"$unset": {"open_key": ""}})
    await store._counters.update_one({"_id": COLLECTION}, {"$set": {"seq": taken["_id"] - 1}})
    outcomes = await store.record_many([recording("x", 2), recording("y", 3), recording("z", 4)])
    assert [(o, d["pod_name"]) for o, d in outcomes] == [
        (Outcome.CREATED, "x"),
        (Outcome.CREATED, "y"),
        (Outcome.CREATED, "z"),
    ]
    ids = [d["_id"] for _, d in outcomes]
    assert taken["_id"] not in ids and len(set(ids)) == 3
    for _, doc in outcomes:
        stored = await store.get(doc["_id"])
        assert stored is not None and stored["pod_name"] == doc["pod_name"]
    old = await store.get(taken["_id"])
    assert old is not None and old["pod_name"] == "old"


async def test_a_record_resolved_before_the_batch_gets_a_new_one(store: FailureStore) -> None:
    ((_, first),) = await store.record_many([recording("a", 1)])
    await store.resolve_pod("shop", "a")
    ((outcome, doc),) = await store.record_many([recording("a", 2)])
    assert outcome is Outcome.CREATED and doc["_id"] != first["_id"]
    assert await store._col.count_documents({"pod_name": "a"}) == 2


async def test_one_batch_takes_one_report_per_pod(store: FailureStore) -> None:
    with pytest.raises(ValueError, match="one report per pod"):
        await store.record_many([recording("a", 1), recording("a", 2)])
    assert await store._col.database[COUNTERS].count_documents({}) == 1


async def test_repeats_of_remembered_records_are_written_without_a_read(
    watched: tuple[FailureStore, Commands],
) -> None:
    store, commands = watched
    await store.record_many([recording("a", 1), recording("b", 2)])
    commands.clear()
    outcomes = await store.record_many(
        [recording("a", 3, "OOMKilled"), recording("b", 4), recording("c", 5)]
    )
    assert [o for o, _ in outcomes] == [Outcome.UPDATED, Outcome.UPDATED, Outcome.CREATED]
    # no read: one insert and one update command (a bulk write sends one per kind of op),
    # and the new record's id
    assert commands.finds() == []
    assert sorted(commands.names) == ["findAndModify", "insert", "update"], commands.sent
    assert [d["report_count"] for _, d in outcomes] == [2, 2, 1]
    assert outcomes[0][1]["failure_reason"] == "OOMKilled"
    await assert_stored(store, outcomes)


async def test_a_record_another_replica_updated_meanwhile_is_updated_again_not_overwritten(
    watched: tuple[FailureStore, Commands], replica: FailureStore
) -> None:
    store, commands = watched
    ((_, first),) = await store.record_many([recording("a", 1)])
    ((outcome, theirs),) = await replica.record_many([recording("a", 2)])
    assert outcome is Outcome.UPDATED and theirs["_id"] == first["_id"]
    commands.clear()
    ((outcome, doc),) = await store.record_many([recording("a", 3)])
    assert outcome is Outcome.UPDATED
    # the missed update's read-back is the record to update: no read by open_key
    assert commands.names == ["update", "find", "update", "find"], commands.sent
    assert (doc["report_count"], doc["applied"]) == (3, ["1:0", "2:0", "3:0"])
    await assert_stored(store, [(outcome, doc)])


async def test_a_solution_from_the_llm_set_by_another_replica_is_kept(
    store: FailureStore, replica: FailureStore
) -> None:
    ((_, first),) = await store.record_many([recording("a", 1)])
    llm = Solution(text="**From the LLM**", source="llm")
    assert await replica.set_solution(first["_id"], llm) is not None
    ((outcome, doc),) = await store.record_many([recording("a", 2)])
    assert outcome is Outcome.UPDATED
    assert (doc["solution"], doc["solution_source"]) == ("**From the LLM**", "llm")
    await assert_stored(store, [(outcome, doc)])


async def test_a_record_another_replica_resolved_gets_a_new_one(
    store: FailureStore, replica: FailureStore
) -> None:
    ((_, first),) = await store.record_many([recording("a", 1)])
    assert await replica.resolve_pod("shop", "a") is not None
    ((outcome, doc),) = await store.record_many([recording("a", 2)])
    assert outcome is Outcome.CREATED and doc["_id"] != first["_id"]
    resolved = await store.get(first["_id"])
    assert resolved is not None and resolved["status"] == "resolved"
    assert resolved["report_count"] == 1
    await assert_stored(store, [(outcome, doc)])


async def test_an_open_record_this_store_never_saw_is_updated(
    store: FailureStore, replica: FailureStore
) -> None:
    """As after a restart: the insert is refused by the pod's open record, which is then
    read and updated."""
    ((_, first),) = await replica.record_many([recording("a", 1)])
    outcomes = await store.record_many([recording("a", 2), recording("b", 3)])
    assert [o for o, _ in outcomes] == [Outcome.UPDATED, Outcome.CREATED]
    assert outcomes[0][1]["_id"] == first["_id"] and outcomes[0][1]["report_count"] == 2
    assert await store._col.count_documents({"pod_name": "a"}) == 1
    again = await store.record_many([recording("a", 2), recording("b", 3)])
    assert [o for o, _ in again] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    await assert_stored(store, again)
