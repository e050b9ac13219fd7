"""Integration tests: pod traffic persistence against a real MongoDB wire server."""

from __future__ import annotations

import asyncio

import msgspec
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.schemas.traffic import (
    PodTrafficBatch,
    PodTrafficEvent,
    PodTrafficGroup,
    PodTrafficQuery,
)
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore

UUIDS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(100)]


def ev(n: int, **changes: str) -> PodTrafficEvent:
    """Event ``n`` of a distinct flow (pod_port varies), at second ``n``."""
    base = {
        "uuid": UUIDS[n],
        "pod_name": "web" if n % 2 == 0 else "db",
        "pod_namespace": "prod" if n % 3 else "staging",
        "pod_ip": "10.0.0.1",
        "pod_port": str(1000 + n),
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS" if n % 4 else "EGRESS",
        "traffic_in_out_ip": "10.0.0.2",
        "traffic_in_out_port": "443",
        "decision": "ALLOW" if n % 5 else "DROP",
        "time_stamp": f"2026-05-12T10:00:{n % 60:02d}.000000",
    }
    return PodTrafficEvent(**(base | changes))


_seq = iter(range(1, 1_000_000))


def batch(*groups: tuple[int, str | None, list[PodTrafficEvent]]) -> tuple[int, PodTrafficBatch]:
    """A TRAFFIC message (next stream sequence) from ``(origin_seq, reply_to, events)``."""
    return next(_seq), PodTrafficBatch(groups=[PodTrafficGroup(s, r, e) for s, r, e in groups])


async def rows(store: PodTrafficStore, **query: object) -> list[dict[str, object]]:
    """Decoded rows of one query page."""
    reply = await store.query(msgspec.convert(query, PodTrafficQuery), max_page=5000)
    assert reply.ok, reply.detail
    decoded: list[dict[str, object]] = msgspec.json.decode(reply.body)
    return decoded


async def test_new_flows_are_inserted_once_and_credited_to_the_asker(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    outcome = await store.write(
        [batch((1, "inbox-a", [ev(1), ev(2), ev(1)]), (2, "inbox-b", [ev(2)]))]
    )
    assert outcome.new_flows == 2
    assert [e.uuid for e in outcome.inserted["inbox-a"]] == [UUIDS[1], UUIDS[2]]
    assert "inbox-b" not in outcome.inserted
    assert sorted(outcome.waiting) == ["inbox-a", "inbox-b"]
    assert await mongo[mongo_db_name][COLLECTION].count_documents({}) == 2


async def test_redelivered_message_adds_no_row_and_no_hit(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    first = batch((1, None, [ev(1), ev(2), ev(2)]))
    later = batch((2, None, [ev(2), ev(3)]))
    await store.write([first])
    # Redelivered alone, then mixed with a message that is new: only the new one counts.
    assert (await store.write([first])).new_flows == 0
    again = await store.write([later, first])
    assert again.new_flows == 1
    docs = await mongo[mongo_db_name][COLLECTION].find({}, {"hits": 1}).to_list()
    assert sorted(d["hits"] for d in docs) == [1, 1, 3]


async def test_a_collect_message_forwarded_twice_in_other_company_counts_once(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """Ingest lost the answer to its first forward (a nats-server restart, a kill) and sent
    collect message 2 again with another neighbour, under another message id: its events
    count once, its neighbour's do, and only the first carrier answers its caller."""
    first = batch((1, None, [ev(1)]), (2, "inbox-b", [ev(2), ev(2)]))
    second = batch((2, "inbox-b", [ev(2), ev(2)]), (3, None, [ev(3)]))
    await store.write([first])
    outcome = await store.write([second])
    assert outcome.waiting == []
    assert outcome.new_flows == 1
    # Both carriers in one window, and each redelivered: still once.
    third = batch((4, None, [ev(4)]), (5, None, [ev(5)]))
    fourth = batch((5, None, [ev(5)]), (6, None, [ev(4)]))
    await store.write([fourth, third])
    await store.write([third, fourth], retried={third[0], fourth[0]})
    docs = await mongo[mongo_db_name][COLLECTION].find({}, {"hits": 1}).to_list()
    assert {d["_id"].split("|")[1]: d["hits"] for d in docs} == {
        "1001": 1,
        "1002": 2,
        "1003": 1,
        "1004": 2,  # collect messages 4 and 6
        "1005": 1,
    }


async def test_a_collect_stream_created_again_is_not_taken_for_the_old_one(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """Sequences start again at 1 in a new ``COLLECT`` stream; its stream time tells the
    messages apart."""
    old = next(_seq), PodTrafficBatch([PodTrafficGroup(1, None, [ev(1)], origin_us=10)])
    new = next(_seq), PodTrafficBatch([PodTrafficGroup(1, None, [ev(1)], origin_us=99)])
    await store.write([old])
    await store.write([new])
    doc = await mongo[mongo_db_name][COLLECTION].find_one({}, {"hits": 1})
    assert doc is not None and doc["hits"] == 2


async def test_stats_track_first_last_seen_and_hits(store: PodTrafficStore) -> None:
    await store.write([batch((1, None, [ev(1, time_stamp="2026-05-12T10:00:05.000000")]))])
    await store.write(
        [
            batch(
                (2, None, [ev(1, time_stamp="2026-05-12T09:00:00.000000")]),
                (3, None, [ev(1, time_stamp="2026-05-12T11:00:00.000000")]),
            )
        ]
    )
    (row,) = await rows(store, with_stats=True)
    assert row["hits"] == 3
    assert row["first_seen"] == "2026-05-12T09:00:00.000000"
    assert row["last_seen"] == "2026-05-12T11:00:00.000000"
    # The row itself is the first event stored; the plain listing has exactly kguardian's keys.
    assert row["time_stamp"] == "2026-05-12T10:00:05.000000"
    (plain,) = await rows(store)
    assert set(plain) == set(PodTrafficEvent.__struct_fields__)


async def test_concurrent_writers_of_one_new_flow_make_one_row(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    results = await asyncio.gather(*(store.write([batch((i, None, [ev(7)]))]) for i in range(1, 9)))
    assert sum(r.new_flows for r in results) == 1
    doc = await mongo[mongo_db_name][COLLECTION].find_one({})
    assert doc is not None and doc["hits"] == 8


async def test_listing_is_newest_first_with_uuid_tiebreak(store: PodTrafficStore) -> None:
    same = "2026-05-12T10:00:30.000000"
    await store.write(
        [batch((1, None, [ev(1), ev(3, time_stamp=same), ev(2, time_stamp=same), ev(59)]))]
    )
    got = [(r["time_stamp"], r["uuid"]) for r in await rows(store)]
    assert got == sorted(got, reverse=True)
    assert [u for _, u in got] == [UUIDS[59], UUIDS[3], UUIDS[2], UUIDS[1]]


async def test_cursor_pages_through_everything_once(store: PodTrafficStore) -> None:
    await store.write([batch((1, None, [ev(n) for n in range(45)]))])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = PodTrafficQuery(limit=10, cursor=cursor)
        reply = await store.query(query, max_page=5000)
        page = msgspec.json.decode(reply.body)
        seen += [r["uuid"] for r in page]
        pages += 1
        cursor = reply.cursor
        if cursor is None:
            break
    assert pages == 5
    assert sorted(seen) == sorted(UUIDS[:45])
    assert len(seen) == 45


async def test_filters(store: PodTrafficStore) -> None:
    await store.write([batch((1, None, [ev(n) for n in range(20)]))])
    assert {r["pod_name"] for r in await rows(store, pod_name="db")} == {"db"}
    assert {r["pod_namespace"] for r in await rows(store, namespace="staging")} == {"staging"}
    assert {r["traffic_type"] for r in await rows(store, traffic_type="EGRESS")} == {"EGRESS"}
    drops = await rows(store, decision="DROP")
    assert len(drops) == 4 and {r["decision"] for r in drops} == {"DROP"}
    window = await rows(
        store, since="2026-05-12T10:00:05.000000", until="2026-05-12T10:00:08.000000"
    )
    assert sorted(r["time_stamp"] for r in window) == [
        f"2026-05-12T10:00:0{n}.000000" for n in (5, 6, 7)
    ]
    assert await rows(store, pod_name="nobody") == []


async def test_page_size_is_capped_and_bad_cursor_is_a_400(store: PodTrafficStore) -> None:
    await store.write([batch((1, None, [ev(n) for n in range(12)]))])
    reply = await store.query(PodTrafficQuery(limit=1000), max_page=5)
    assert len(msgspec.json.decode(reply.body)) == 5 and reply.cursor is not None
    bad = await store.query(PodTrafficQuery(cursor="###"), max_page=5)
    assert bad.status == 400 and bad.detail is not None and "cursor" in bad.detail


async def test_time_bounds_are_exact_when_combined_with_pod_or_namespace(
    store: PodTrafficStore,
) -> None:
    await store.write([batch((1, None, [ev(n) for n in range(12)]))])
    since, until = "2026-05-12T10:00:04.000000", "2026-05-12T10:00:10.000000"
    for extra in ({"pod_name": "web"}, {"namespace": "prod"}, {}):
        got = sorted(
            str(r["time_stamp"]) for r in await rows(store, since=since, until=until, **extra)
        )
        want = sorted(
            f"2026-05-12T10:00:{n:02d}.000000"
            for n in range(4, 10)
            if ("pod_name" not in extra or n % 2 == 0) and ("namespace" not in extra or n % 3)
        )
        assert got == want, extra


async def test_a_batch_of_empty_groups_writes_nothing(store: PodTrafficStore) -> None:
    outcome = await store.write([batch((1, "inbox", []))])
    assert outcome.new_flows == 0 and outcome.waiting == ["inbox"]
