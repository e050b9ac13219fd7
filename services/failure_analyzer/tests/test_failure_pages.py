"""Listing pages of failure records (``FailureStore.query``) read as id windows: every record
of a view exactly once across pages, newest first, whatever the statuses' and namespaces'
density, with the cursor format clients send (the last id of the page, as digits).

Records are written as :meth:`FailureStore.record` stores them, ids from the store's counter,
on the real MongoDB wire server (one ``insert_many``, to keep the tests fast); one more is
added through :meth:`FailureStore.record` and resolved as the triage commands do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document, reserve_ids
from kubeward.devstack.testing import CountedCalls, WatchedDb, docs_examined
from kubeward.failure_analyzer.store import (
    COLLECTION,
    COUNTERS,
    FailureStore,
    Solution,
    open_key,
    utcnow,
)
from kubeward.schemas.pod_failures import (
    FailureQuery,
    FailureReportEnvelope,
    FailureView,
    PodFailureReport,
)

RECORDS = 240
NAMESPACES = ("shop", "billing", "search", "edge")
RARE_IGNORED = (3, 118, 236)
"""Record numbers that end up ignored: three records far apart, so a page of that view
spans almost every id."""
SOLUTION = Solution(text="fix it", source="offline")
VIEW_STATUSES: dict[FailureView, set[str]] = {
    "active": {"new", "investigating"},
    "history": {"resolved"},
    "ignored": {"ignored"},
}


def _status_of(n: int) -> str:
    if n in RARE_IGNORED:
        return "ignored"
    if n % 10 == 0:
        return "investigating"
    if n % 5 == 0:
        return "new"
    return "resolved"  # 80 %: the active view is sparse, as in a long-running cluster


def _record(record_id: int, n: int, now: datetime) -> Document:
    """A record as :meth:`FailureStore.record` stores it, in status :func:`_status_of`."""
    namespace = NAMESPACES[n % 7 % len(NAMESPACES)]
    status = _status_of(n)
    doc: Document = {
        "_id": record_id,
        "pod_name": f"pod-{n}",
        "namespace": namespace,
        "failure_reason": "CrashLoopBackOff",
        "first_seen": now,
        "last_seen": now,
        "report_count": 1,
        "applied": [f"{n}:0"],
        "status": status,
        "dismissed": status in ("resolved", "ignored"),
        "resolved_at": now if status == "resolved" else None,
        "status_changed_at": now,
    }
    if status != "resolved":
        doc["open_key"] = open_key(namespace, doc["pod_name"])
    return doc


@pytest.fixture
async def store(mongo: AsyncMongoClient[Document], mongo_db_name: str) -> Document:
    """A store holding :data:`RECORDS` records with ids from its counter; returns
    ``{"store", "docs"}``."""
    db = mongo[mongo_db_name]
    failures = FailureStore(db)
    await failures.ensure_indexes()
    ids = await reserve_ids(db[COUNTERS], COLLECTION, RECORDS)
    now = utcnow()
    docs = [_record(record_id, n, now) for n, record_id in enumerate(ids)]
    await db[COLLECTION].insert_many(docs)
    return {"store": failures, "docs": docs}


def _expected(docs: list[Document], view: FailureView, namespace: str | None) -> list[int]:
    return sorted(
        (
            d["_id"]
            for d in docs
            if d["status"] in VIEW_STATUSES[view]
            and (namespace is None or d["namespace"] == namespace)
        ),
        reverse=True,
    )


async def _all_pages(
    failures: FailureStore, view: FailureView, namespace: str | None, limit: int
) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        query = FailureQuery(view=view, namespace=namespace, limit=limit, cursor=cursor)
        docs, next_id = await failures.query(query, max_page=5000)
        pages.append([d["_id"] for d in docs])
        if next_id is None:
            return pages
        assert next_id == docs[-1]["_id"]  # the cursor clients hold: the page's last id
        cursor = str(next_id)
        assert len(pages) < RECORDS, "the cursor does not advance"


@pytest.mark.parametrize("view", ["active", "history", "ignored"])
@pytest.mark.parametrize("namespace", [None, "billing"])
@pytest.mark.parametrize("limit", [3, 100])
async def test_pages_hold_every_record_once_newest_first(
    store: Document, view: FailureView, namespace: str | None, limit: int
) -> None:
    expected = _expected(store["docs"], view, namespace)
    assert expected, "the data set has records for every view and namespace"
    pages = await _all_pages(store["store"], view, namespace, limit)
    assert [i for page in pages for i in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


async def test_a_rare_status_is_found_across_the_whole_id_range(store: Document) -> None:
    docs, next_id = await store["store"].query(FailureQuery(view="ignored", limit=10), 5000)
    assert [d["pod_name"] for d in docs] == [f"pod-{n}" for n in reversed(RARE_IGNORED)]
    assert next_id is None


async def test_a_namespace_without_records_answers_an_empty_last_page(store: Document) -> None:
    query = FailureQuery(view="history", namespace="nowhere", limit=100)
    assert await store["store"].query(query, 5000) == ([], None)


async def test_a_cursor_from_before_is_still_honoured(store: Document) -> None:
    """A cursor is an id: a page from it holds the records below it, also after records
    were added (the newest are on page one again, not repeated further down)."""
    failures: FailureStore = store["store"]
    first, cursor = await failures.query(FailureQuery(view="history", limit=50), 5000)
    assert cursor is not None
    report = PodFailureReport(pod_name="late", namespace="shop")
    envelope = FailureReportEnvelope(
        origin_seq=9999, origin_us=1_900_000_000_000_000, report=report
    )
    _, late = await failures.record(envelope, SOLUTION)
    await failures.set_status(late["_id"], "resolved", frozenset({"new"}))
    second, _ = await failures.query(
        FailureQuery(view="history", limit=50, cursor=str(cursor)), 5000
    )
    expected = _expected(store["docs"], "history", None)
    assert [d["_id"] for d in first + second] == expected[:100]
    newest, _ = await failures.query(FailureQuery(view="history", limit=1), 5000)
    assert newest[0]["_id"] == late["_id"]


async def test_the_page_size_is_clamped_to_the_maximum(store: Document) -> None:
    docs, next_id = await store["store"].query(FailureQuery(view="history", limit=5000), 20)
    assert len(docs) == 20 and next_id == docs[-1]["_id"]


async def test_retention_sweeps_in_windows_and_again_from_where_it_stopped(
    store: Document, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """Records past retention go, spread over weeks, in batches smaller than the windows;
    a later sweep of the same store with a shorter retention finds what is now past it."""
    failures: FailureStore = store["store"]
    col = mongo[mongo_db_name][COLLECTION]
    resolved = _expected(store["docs"], "history", None)
    now = utcnow()
    aged, recent, fresh = resolved[:60], resolved[60:70], resolved[70:]
    for k, record_id in enumerate(aged):
        at = now - timedelta(days=30) + timedelta(hours=7 * k)
        await col.update_one({"_id": record_id}, {"$set": {"status_changed_at": at}})
    for record_id in recent:
        at = now - timedelta(hours=2)
        await col.update_one({"_id": record_id}, {"$set": {"status_changed_at": at}})
    assert await failures.sweep("resolved", timedelta(days=1), batch=7) == len(aged)
    assert await failures.sweep("resolved", timedelta(days=1), batch=7) == 0
    assert await failures.sweep("resolved", timedelta(hours=1), batch=7) == len(recent)
    assert {d["_id"] async for d in col.find({"status": "resolved"}, {"_id": 1})} == set(fresh)
    active = _expected(store["docs"], "active", None) + _expected(store["docs"], "ignored", None)
    assert await col.count_documents({"status": {"$ne": "resolved"}}) == len(active)


@pytest.mark.parametrize("view", ["history", "ignored"])
async def test_a_page_read_in_slices_is_the_page_read_whole(
    store: Document, view: FailureView
) -> None:
    """While reports arrive a page is read in slices with pauses between them
    (``ingest_first``): the same rows, the same cursor."""
    failures: FailureStore = store["store"]
    query = FailureQuery(view=view, limit=100)
    whole = await failures.query(query, 5000)
    pauses = CountedCalls()
    sliced = await failures.query(query, 5000, slice_rows=10, between=pauses)
    assert [d["_id"] for d in sliced[0]] == [d["_id"] for d in whole[0]]
    assert sliced[1] == whole[1]
    if view == "history":  # dense: 100 rows in slices of about 10
        assert pauses.count >= 100 // 10 - 1


async def test_a_pods_latest_record_is_read_from_its_newest_ids_not_all_of_its_records(
    watched_db: WatchedDb,
) -> None:
    """A pod that failed and was resolved a thousand times: its latest record (for its
    manifest) is read from a window of the newest ids, not by reading all its records."""
    db, commands = watched_db
    failures = FailureStore(db)
    await failures.ensure_indexes()
    ids = await reserve_ids(db[COUNTERS], COLLECTION, 3000)
    now = utcnow()
    docs = [_record(record_id, n, now) for n, record_id in enumerate(ids)]
    flappy = docs[::3]
    for doc in flappy:
        doc.update(namespace="shop", pod_name="flappy", status="resolved", dismissed=True)
        doc.pop("open_key", None)
    await db[COLLECTION].insert_many(docs)
    commands.clear()
    latest = await failures.latest_of_pod("shop", "flappy")
    assert latest is not None and latest["_id"] == flappy[-1]["_id"]
    examined = await docs_examined(db, commands)
    assert 0 < examined < 100, examined  # the pod has 1000 records
    assert await failures.latest_of_pod("shop", "never-failed") is None
    assert await failures.latest_of_pod("billing", "flappy") is None
