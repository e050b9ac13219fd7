"""Pod traffic listings read in bounded time windows: every row once, in order, filters exact."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta

import msgspec
import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack.stored_documents import END, flow_docs, rare_flow_copies, stamp
from kubeward.devstack.testing import Commands, WatchedDb
from kubeward.schemas.traffic import (
    TIMESTAMP_FORMAT,
    PodTrafficBatch,
    PodTrafficEvent,
    PodTrafficFlow,
    PodTrafficGroup,
    PodTrafficQuery,
)
from kubeward.traffic_store.pod_traffic import COLLECTION, SPANS, PodTrafficStore
from kubeward.traffic_store.rare_flows import COLLECTION as RARE
from kubeward.traffic_store.rare_flows import MARKER as RARE_MARKER

T0 = datetime(2026, 5, 12, 10, 0, 0)


def ev(n: int, at: datetime, pod: str = "web", **changes: str) -> PodTrafficEvent:
    """Event of the distinct flow ``n`` (its pod port) at ``at``."""
    fields = {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "pod_name": pod,
        "pod_namespace": "prod" if n % 3 else "staging",
        "pod_ip": "10.0.0.1",
        "pod_port": str(1000 + n),
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS" if n % 4 else "EGRESS",
        "traffic_in_out_ip": "10.0.0.2",
        "traffic_in_out_port": "443",
        "decision": "ALLOW" if n % 5 else "DROP",
        "time_stamp": at.strftime(TIMESTAMP_FORMAT),
    }
    return PodTrafficEvent(**(fields | changes))


async def write(store: PodTrafficStore, events: list[PodTrafficEvent], seq: int = 1) -> None:
    """Store ``events`` as one TRAFFIC message."""
    await store.write([(seq, PodTrafficBatch(groups=[PodTrafficGroup(seq, None, events)]))])


async def walk(store: PodTrafficStore, **filters: object) -> list[tuple[str, str]]:
    """Every page of a listing, following the cursor: the rows' ``(time_stamp, uuid)``."""
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(1000):
        reply = await store.query(PodTrafficQuery(cursor=cursor, **filters), 5000)  # type: ignore[arg-type]
        assert reply.ok, reply.detail
        rows = msgspec.json.decode(reply.body, type=list[PodTrafficEvent])
        seen += [(r.time_stamp, r.uuid) for r in rows]
        cursor = reply.cursor
        if cursor is None:
            return seen
        assert rows, "a page with a next cursor holds rows"
    raise AssertionError("the cursor never ended")


def newest_first(events: list[PodTrafficEvent]) -> list[tuple[str, str]]:
    return sorted(((e.time_stamp, e.uuid) for e in events), reverse=True)


async def test_every_row_once_newest_first_across_gaps_and_ties(store: PodTrafficStore) -> None:
    # Dense minutes, a gap of days, rows sharing a time stamp across page boundaries.
    events = [ev(n, T0 + timedelta(seconds=n)) for n in range(40)]
    events += [ev(100 + n, T0 - timedelta(days=3, seconds=n)) for n in range(25)]
    events += [ev(200 + n, T0 + timedelta(days=1)) for n in range(9)]  # one instant
    events += [ev(300 + n, T0 - timedelta(days=400, minutes=n)) for n in range(6)]
    await write(store, events)
    want = newest_first(events)
    for limit in (1, 4, 7, 100):
        assert await walk(store, limit=limit) == want, limit


async def test_sparse_filters_find_rows_far_apart(store: PodTrafficStore) -> None:
    # One pod's flows scattered over a year between many flows of another pod.
    rare = [ev(500 + n, T0 - timedelta(days=37 * n), pod="rare") for n in range(8)]
    busy = [ev(n, T0 - timedelta(minutes=n)) for n in range(120)]
    await write(store, rare + busy)
    assert await walk(store, pod_name="rare", limit=3) == newest_first(rare)
    drops = [e for e in rare + busy if e.decision == "DROP"]
    assert await walk(store, decision="DROP", limit=5) == newest_first(drops)
    staging_egress = [
        e for e in rare + busy if e.pod_namespace == "staging" and e.traffic_type == "EGRESS"
    ]
    assert await walk(store, namespace="staging", traffic_type="EGRESS", limit=2) == (
        newest_first(staging_egress)
    )
    assert await walk(store, pod_name="nobody", limit=5) == []


async def test_since_is_inclusive_and_until_exclusive_on_every_index(
    store: PodTrafficStore,
) -> None:
    events = [ev(n, T0 + timedelta(seconds=n), pod="web" if n % 2 else "db") for n in range(30)]
    await write(store, events)
    since = (T0 + timedelta(seconds=10)).strftime(TIMESTAMP_FORMAT)
    until = (T0 + timedelta(seconds=20)).strftime(TIMESTAMP_FORMAT)
    inside = [e for e in events if since <= e.time_stamp < until]
    assert await walk(store, since=since, until=until, limit=3) == newest_first(inside)
    for pod in ("web", "db"):
        mine = [e for e in inside if e.pod_name == pod]
        got = await walk(store, pod_name=pod, since=since, until=until, limit=2)
        assert got == newest_first(mine), pod
    staging = [e for e in inside if e.pod_namespace == "staging"]
    assert await walk(store, namespace="staging", since=since, until=until) == (
        newest_first(staging)
    )


async def test_cursors_of_the_old_format_still_page(store: PodTrafficStore) -> None:
    events = [ev(n, T0 + timedelta(seconds=n // 2)) for n in range(12)]
    await write(store, events)
    want = newest_first(events)
    # What the API gave out before windows: base64url (unpadded) JSON [time_stamp, uuid].
    ts, uuid = want[4]
    old = base64.urlsafe_b64encode(msgspec.json.encode([ts, uuid])).decode().rstrip("=")
    reply = await store.query(PodTrafficQuery(limit=3, cursor=old), 5000)
    rows = msgspec.json.decode(reply.body, type=list[PodTrafficEvent])
    assert [(r.time_stamp, r.uuid) for r in rows] == want[5:8]
    bad = await store.query(PodTrafficQuery(cursor="not-a-cursor"), 5000)
    assert bad.status == 400


async def test_rows_stored_before_spans_were_kept_are_listed(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    db = mongo[mongo_db_name]
    try:
        old = PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768)
        await old.ensure_indexes()
        events = [ev(n, T0 - timedelta(days=n)) for n in range(5)]
        await write(old, events)
        await db[SPANS].drop()  # as a database written before this version
        assert await walk(old) == []  # the set-up holds: no span, no windows
        upgraded = PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768)
        await upgraded.ensure_indexes()
        assert await walk(upgraded, limit=2) == newest_first(events)
    finally:
        await mongo.drop_database(mongo_db_name)


async def test_generated_flows_list_as_stored(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """The flows ``bench.listings`` fills the database with directly are the store's own:
    with their span recorded, every one is listed once, newest first, and a pod filter
    finds exactly its flows, a DROP filter its DROP; a flow the store writes afterwards
    lists among them."""
    docs, offsets = flow_docs(600, random.Random(7))
    await mongo[mongo_db_name][COLLECTION].insert_many(docs)
    await mongo[mongo_db_name][RARE].insert_many(rare_flow_copies(docs))
    await store.widen_span(stamp(offsets[-1]), stamp(offsets[0]))
    want = [(d["time_stamp"], d["uuid"]) for d in docs]
    assert want == sorted(want, reverse=True)  # generated newest first
    assert await walk(store, limit=70) == want
    pod_7 = [(d["time_stamp"], d["uuid"]) for d in docs if d["pod_name"] == "pod-7"]
    assert len(pod_7) == 2  # 600 flows over 500 pods
    assert await walk(store, limit=1, pod_name="pod-7") == pod_7
    drops = [(d["time_stamp"], d["uuid"]) for d in docs if d["decision"] == "DROP"]
    assert len(drops) == 1
    assert await walk(store, decision="DROP") == drops

    later = ev(1, END + timedelta(seconds=1), pod="pod-7")
    await write(store, [later])
    assert await walk(store, limit=1, pod_name="pod-7") == [(later.time_stamp, later.uuid), *pod_7]


@pytest.fixture
async def watched(
    watched_db: WatchedDb,
) -> tuple[PodTrafficStore, Commands]:
    """A pod-traffic store on a fresh database whose client's commands are recorded."""
    db, commands = watched_db
    store = PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768)
    await store.ensure_indexes()
    return store, commands


def stats_of(reply_body: bytes) -> dict[str, int]:
    return {r.uuid: r.hits for r in msgspec.json.decode(reply_body, type=list[PodTrafficFlow])}


async def test_rare_filters_read_only_rare_flows(
    watched: tuple[PodTrafficStore, Commands],
) -> None:
    """A DROP (or an unusual traffic type) among many ALLOW flows: the listing reads the
    rare flows, not the range they are spread over; counts come from the flows."""
    store, commands = watched
    allow = [ev(n, T0 - timedelta(minutes=n), decision="ALLOW") for n in range(1, 400)]
    drops = [ev(1000 + n, T0 - timedelta(hours=5 * n), decision="DROP") for n in range(6)]
    odd = [ev(2000, T0 - timedelta(days=2), traffic_type="LOOPBACK", decision="ALLOW")]
    await write(store, allow + drops + odd)
    # The newest DROP is seen twice more (a repeat sighting is counted in its flow).
    again = msgspec.structs.replace(drops[0], uuid="", time_stamp=ev(0, T0).time_stamp)
    await write(store, [again, again], seq=2)
    for filters, want in (
        ({"decision": "DROP"}, drops),
        (
            {"decision": "DROP", "namespace": "staging"},
            [e for e in drops if e.pod_namespace == "staging"],
        ),
        ({"traffic_type": "LOOPBACK"}, odd),
        ({"decision": "REJECT"}, []),
    ):
        assert await walk(store, limit=2, **filters) == newest_first(want), filters
        commands.clear()
        assert await walk(store, limit=100, **filters) == newest_first(want), filters
        # The span, and the rare flows (the 399 ALLOW flows around them are not read).
        assert commands.rows_read <= 1 + len(drops) + len(odd), (filters, commands.rows_read)
    assert "pod_traffic" not in commands.finds()  # the span is in pod_traffic_spans
    commands.clear()
    reply = await store.query(PodTrafficQuery(decision="DROP", with_stats=True), 5000)
    assert stats_of(reply.body) == {e.uuid: 3 if e is drops[0] else 1 for e in drops}
    # The span, the rare flows, and the counts of the DROPs.
    assert commands.rows_read <= 1 + len(drops) + len(odd) + len(drops), commands.rows_read
    # A pod's own index still serves a pod filter with a decision.
    pod = await walk(store, pod_name="web", decision="DROP")
    assert pod == newest_first(drops)


async def test_a_rare_copy_lost_in_a_crash_is_made_by_the_redelivery(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    drop = ev(7, T0, decision="DROP")
    message = (1, PodTrafficBatch(groups=[PodTrafficGroup(1, None, [drop])]))
    await store.write([message])
    # As if the process died after writing the flow and before copying it.
    await mongo[mongo_db_name][RARE].delete_many({})
    assert await walk(store, decision="DROP") == []
    # The redelivery (what PodTrafficWriter does for a message delivered again).
    await store.write([message], retried={1})
    assert [f.row for f in await store.created_by([message])] == [drop]
    assert await walk(store, decision="DROP") == newest_first([drop])
    assert await mongo[mongo_db_name][RARE].count_documents({}) == 1


async def test_rare_flows_stored_before_the_copy_existed_are_copied_once(
    watched_db: WatchedDb,
) -> None:
    db, commands = watched_db
    old = PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768)
    await old.ensure_indexes()
    events = [ev(n, T0 - timedelta(hours=n)) for n in range(20)]  # every fifth a DROP
    await write(old, events)
    await db[RARE].drop()  # as a database written before this version
    await db[SPANS].delete_one({"_id": RARE_MARKER})
    assert await walk(old, decision="DROP") == []  # the set-up holds
    upgraded = PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768)
    await upgraded.ensure_indexes()
    drops = [e for e in events if e.decision == "DROP"]
    assert len(drops) == 4
    assert await walk(upgraded, decision="DROP", limit=3) == newest_first(drops)
    commands.clear()
    await PodTrafficStore(db[COLLECTION], ephemeral_port_min=32768).ensure_indexes()
    assert COLLECTION not in commands.finds()  # the marker: no second scan
