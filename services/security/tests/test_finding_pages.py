"""Findings listings read in bounded id windows: every finding once, newest first, filters exact."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from kubeward.core import facets
from kubeward.core.mongo import Document
from kubeward.devstack.stored_documents import finding_docs
from kubeward.devstack.testing import Commands, CountedCalls, WatchedDb
from kubeward.schemas.security import FindingQuery
from kubeward.security.store import FACETS_MARKER, FindingStore, to_api

SEVERITIES = ("critical", "high", "medium", "low")


@pytest.fixture
async def store(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[FindingStore]:
    """A store on a fresh database."""
    s = FindingStore(mongo[mongo_db_name])
    await s.ensure_indexes()
    yield s
    await mongo.drop_database(mongo_db_name)


async def fill(store: FindingStore, n: int) -> list[Document]:
    """``n`` built-in findings on ``n`` resources; the first of every 50 is ``critical``."""
    stored: list[Document] = []
    for i in range(n):
        fields = {
            "resource_type": "Deployment",
            "resource_name": f"app-{i}",
            "namespace": "payments" if i % 7 == 0 else "web",
            "check_name": "privileged",
            "severity": "critical" if i % 50 == 0 else SEVERITIES[1 + i % 3],
            "message": "m",
            "remediation": "r",
            "title": "Privileged container: app",
            "description": "d",
            "source": "builtin",
        }
        key = f"Deployment|{fields['namespace']}|app-{i}|privileged|app"
        stored += await store.replace_builtin(
            "Deployment", str(fields["namespace"]), f"app-{i}", [(key, fields)]
        )
    return stored


async def walk(store: FindingStore, **filters: object) -> list[int]:
    """Every page of a listing, following the cursor: the finding ids."""
    ids: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        docs, next_id = await store.query(FindingQuery(cursor=cursor, **filters), 5000)  # type: ignore[arg-type]
        ids += [d["_id"] for d in docs]
        if next_id is None:
            return ids
        assert docs, "a page with a next cursor holds findings"
        cursor = str(next_id)
    raise AssertionError("the cursor never ended")


async def test_every_finding_once_newest_first_with_gaps(store: FindingStore) -> None:
    stored = await fill(store, 160)
    # Gaps: deleted findings and dismissed ones leave holes in the active ids.
    for doc in stored[20:60]:
        await store.delete_resource("Deployment", doc["namespace"], doc["resource_name"])
    dismissed = [d["_id"] for d in stored[100:103]]
    for finding_id in dismissed:
        await store.set_dismissed(finding_id, True)
    alive = [d["_id"] for d in stored[:20] + stored[60:]]
    active = sorted(set(alive) - set(dismissed), reverse=True)
    for limit in (1, 6, 50, 500):
        assert await walk(store, limit=limit) == active, limit
    assert await walk(store, limit=2, dismissed=True) == sorted(dismissed, reverse=True)
    assert await walk(store, limit=9, dismissed=None) == sorted(alive, reverse=True)


async def test_sparse_filters_span_many_windows(store: FindingStore) -> None:
    stored = await fill(store, 200)
    critical = sorted((d["_id"] for d in stored if d["severity"] == "critical"), reverse=True)
    assert len(critical) == 4
    assert await walk(store, limit=1, severity="critical") == critical
    payments_high = sorted(
        (d["_id"] for d in stored if d["namespace"] == "payments" and d["severity"] == "high"),
        reverse=True,
    )
    assert await walk(store, limit=3, namespace="payments", severity="high") == payments_high
    assert await walk(store, limit=5, resource_name="app-77") == [stored[77]["_id"]]
    assert await walk(store, limit=5, check="no-such-check") == []


async def test_a_cursor_from_before_is_still_the_next_page(store: FindingStore) -> None:
    stored = await fill(store, 30)
    ids = sorted((d["_id"] for d in stored), reverse=True)
    # The cursor is the last id of the previous page, as a decimal string, as it always was.
    docs, next_id = await store.query(FindingQuery(limit=5, cursor=str(ids[9])), 5000)
    assert [d["_id"] for d in docs] == ids[10:15]
    assert next_id == ids[14]


async def test_generated_findings_list_as_stored(
    store: FindingStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """The findings ``bench.listings`` fills the database with directly are the store's own:
    listed newest first with their filters, shown as the API's findings, and a finding the
    store adds afterwards continues their ids."""
    db = mongo[mongo_db_name]
    docs = finding_docs(120, random.Random(7))
    await db["security_findings"].insert_many(docs)
    await db["security_counters"].update_one(
        {"_id": "security_findings"}, {"$set": {"seq": len(docs)}}
    )
    active = [d["_id"] for d in reversed(docs) if not d["dismissed"]]
    assert len(active) == 108  # one in ten dismissed
    assert await walk(store, limit=25) == active
    assert await walk(store, limit=7, dismissed=True) == [i for i in range(120, 0, -10)]
    critical = [d["_id"] for d in reversed(docs) if d["severity"] == "critical"]
    assert critical
    assert await walk(store, limit=10, severity="critical", dismissed=None) == critical
    page, _next = await store.query(FindingQuery(limit=3), 5000)
    shown = [to_api(d) for d in page]
    assert [f.id for f in shown] == active[:3]
    assert all(f.source == "scanner" and f.namespace.startswith("ns-") for f in shown)

    [created] = await store.replace_builtin(
        "Deployment", "ns-1", "fresh", [("Deployment|ns-1|fresh|privileged|app", {"m": 1})]
    )
    assert created["_id"] == len(docs) + 1


async def test_a_page_read_in_slices_is_the_page_read_whole(store: FindingStore) -> None:
    """While findings arrive a page is read in slices with pauses between them
    (``kubeward.core.ingest_first``): the same findings, the same cursor."""
    await fill(store, 120)
    query = FindingQuery(limit=50)
    whole = await store.query(query, 5000)
    pauses = CountedCalls()
    sliced = await store.query(query, 5000, slice_rows=10, between=pauses)
    assert [d["_id"] for d in sliced[0]] == [d["_id"] for d in whole[0]]
    assert sliced[1] == whole[1]
    assert pauses.count >= 50 // 10 - 1


@pytest.fixture
async def watched(
    watched_db: WatchedDb,
) -> tuple[FindingStore, Commands]:
    """A store on a fresh database whose client's commands are recorded."""
    db, commands = watched_db
    store = FindingStore(db)
    await store.ensure_indexes()
    return store, commands


async def test_a_filtered_page_reads_its_matches_not_the_rows_its_filter_skips(
    watched: tuple[FindingStore, Commands],
) -> None:
    """Each filter is read through its facet: a rare value reads about its matches, a value
    matching nothing reads nothing, whatever the findings stored around them."""
    store, commands = watched
    stored = await fill(store, 300)
    critical = sorted((d["_id"] for d in stored if d["severity"] == "critical"), reverse=True)
    for filters, expected in (
        ({"severity": "critical"}, critical),
        ({"resource_name": "app-77"}, [stored[77]["_id"]]),
        ({"check": "no-such-check"}, []),
        ({"namespace": "nowhere", "dismissed": None}, []),
    ):
        commands.clear()
        assert await walk(store, limit=100, **filters) == expected, filters
        # The id counter's document is one of the rows read.
        assert commands.rows_read <= len(expected) + 2, (filters, commands.rows_read)
        pages = [f for f in commands.find_filters if "dismissed" in f]
        assert pages and all(facets.FIELD in f for f in pages), commands.find_filters
    # Two filters: read by the first of FINDING_FACETS' order (the namespace), the
    # severity applied to its rows.
    commands.clear()
    both = {"severity": "critical", "namespace": "payments"}
    assert await walk(store, limit=100, **both) == [critical[-1]]
    in_payments = sum(d["namespace"] == "payments" for d in stored)
    assert commands.rows_read <= in_payments + 2, commands.rows_read


async def test_findings_stored_before_facets_get_them_once(
    watched: tuple[FindingStore, Commands], mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """A database written before facets: the first start gives every finding its facets and
    drops the indexes they replaced; filters then list them; later starts read a marker."""
    store, commands = watched
    db = mongo[mongo_db_name]
    await db.drop_collection("security_findings")
    await db["security_counters"].delete_many({})
    old = db["security_findings"]
    await old.create_index([("dismissed", 1), ("_id", -1)])
    await old.create_index([("rule_keys", 1), ("namespace", 1)])
    docs = finding_docs(60, random.Random(3))
    for doc in docs:
        del doc[facets.FIELD]
    await old.insert_many(docs)
    await db["security_counters"].insert_one({"_id": "security_findings", "seq": len(docs)})

    await store.ensure_indexes()
    assert await old.count_documents({facets.FIELD: {"$exists": False}}) == 0
    assert "rule_keys_1_namespace_1" not in await old.index_information()
    assert await db["security_counters"].find_one({"_id": FACETS_MARKER}) is not None
    high = [d["_id"] for d in reversed(docs) if d["severity"] == "high" and not d["dismissed"]]
    assert high
    assert await walk(store, limit=7, severity="high") == high
    assert await store.purge_rule("host_path") == sum(d["check_name"] == "host_path" for d in docs)

    commands.clear()
    await store.ensure_indexes()
    assert not [f for f in commands.find_filters if facets.FIELD in f]
