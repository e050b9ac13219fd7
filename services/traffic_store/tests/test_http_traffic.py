"""Integration tests: arkyn HTTP traffic in traffic-store against real MongoDB and NATS."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import msgspec
import pytest
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.mongo import Document
from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.stored_documents import http_records, http_world
from kubeward.devstack.testing import Commands, WatchedDb, eventually
from kubeward.schemas import bus
from kubeward.schemas.arkyn import ArkynCommand
from kubeward.schemas.http_traffic import (
    EntityKind,
    HttpEntityCreate,
    HttpTraffic,
    HttpTrafficBatch,
    HttpTrafficGroup,
    HttpTrafficIn,
    HttpTrafficQuery,
)
from kubeward.schemas.replies import Reply
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.http_entities import HttpEntities
from kubeward.traffic_store.http_pages import FACET_KEYS
from kubeward.traffic_store.http_plural import PluralApi
from kubeward.traffic_store.http_traffic import (
    COLLECTION,
    FACETS_MARKER,
    SLOTS_MARKER,
    HttpTrafficStore,
    traffic_document,
)
from kubeward.traffic_store.settings import Settings

T0 = 1_762_442_821_000_000
"""2025-11-06 15:27:01 UTC in microseconds."""


class World(msgspec.Struct):
    """Ids of one source with a domain, pathname, request and response."""

    source: str
    domain: str
    pathname: str
    request: str
    response: str


@pytest.fixture
async def store(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[HttpTrafficStore]:
    """A store on a fresh database, indexes in place."""
    db = mongo[mongo_db_name]
    entities = HttpEntities(db)
    await entities.ensure_indexes()
    store = HttpTrafficStore(db[COLLECTION], entities)
    await store.ensure_indexes()
    yield store
    await mongo.drop_database(mongo_db_name)


async def create(
    entities: HttpEntities,
    kind: EntityKind,
    body: Any,
    source: str | None = None,
    domain: str | None = None,
) -> Reply:
    """Create an entity the way the gateway asks for it."""
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    req = HttpEntityCreate(kind=kind, body=raw, traffic_source_id=source, domain_id=domain)
    return await entities.create(req)


def body_of(reply: Reply) -> Any:
    """The reply's JSON body, decoded."""
    return msgspec.json.decode(reply.body)


async def world(entities: HttpEntities, name: str = "Payments API") -> World:
    """A traffic source and one of each entity under it."""
    source = body_of(await create(entities, "traffic-source", {"name": name}))["id"]
    domain = body_of(
        await create(entities, "domain", {"value": "api.x.com", "protocol": "https"}, source)
    )["id"]
    pathname = body_of(await create(entities, "pathname", {"value": "/a"}, source, domain))["id"]
    request = body_of(await create(entities, "request", {"headers": {}, "queryParams": {}}))["id"]
    response = body_of(await create(entities, "response", {"headers": {}}))["id"]
    return World(source, domain, pathname, request, response)


def rec(w: World, status: int = 200, method: str = "GET", **changes: str) -> HttpTrafficIn:
    """A valid record in world ``w``."""
    fields: dict[str, Any] = {
        "status": status,
        "method": method,
        "elapsedTime": 12,
        "domainId": w.domain,
        "pathnameId": w.pathname,
        "requestId": w.request,
        "responseId": w.response,
    } | changes
    return msgspec.convert(fields, HttpTrafficIn)


def group(
    w: World, seq: int, records: list[HttpTrafficIn], reply_to: str | None = None
) -> HttpTrafficGroup:
    """Records of collect message ``seq``, stored one second apart per sequence."""
    return HttpTrafficGroup(seq, T0 + seq * 1_000_000, reply_to, w.source, records)


# --- Entities ---------------------------------------------------------------------------


async def test_entities_are_created_with_ids_and_created_at(store: HttpTrafficStore) -> None:
    ent = store.entities
    source = await create(ent, "traffic-source", {"name": "Payments API", "trafficDomain": "p.com"})
    assert source.status == 201
    src = body_of(source)
    assert src["name"] == "Payments API"
    assert src["trafficDomain"] == "p.com"
    assert src["createdAt"].endswith("Z")
    domain = body_of(
        await create(ent, "domain", {"value": "App.Site.com", "protocol": "https"}, src["id"])
    )
    assert domain | {"id": "", "createdAt": ""} == {
        "id": "",
        "value": "app.site.com",
        "protocol": "HTTPS",
        "port": None,
        "trafficSourceId": src["id"],
        "createdAt": "",
    }
    pathname = body_of(
        await create(ent, "pathname", {"value": "/dashboard"}, src["id"], domain["id"])
    )
    assert pathname["domainId"] == domain["id"]
    assert pathname["trafficSourceId"] == src["id"]
    captured = {"headers": {"$weird.key": "x"}, "body": [1, {"a": None}], "queryParams": {}}
    request = body_of(await create(ent, "request", captured))
    assert request | {"id": "", "createdAt": ""} == captured | {"id": "", "createdAt": ""}
    response = body_of(await create(ent, "response", {"headers": {"a": "b"}}))
    assert response["body"] is None


async def test_same_domain_and_pathname_are_returned_not_duplicated(
    store: HttpTrafficStore,
) -> None:
    ent = store.entities
    w = await world(ent)
    again = await create(ent, "domain", {"value": "API.x.com", "protocol": "HTTPS"}, w.source)
    assert body_of(again)["id"] == w.domain
    other_port = await create(
        ent, "domain", {"value": "api.x.com", "protocol": "HTTPS", "port": 8443}, w.source
    )
    assert body_of(other_port)["id"] != w.domain
    same_path = await create(ent, "pathname", {"value": "/a"}, w.source, w.domain)
    assert body_of(same_path)["id"] == w.pathname


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("traffic-source", {}, "name"),
        ("traffic-source", {"name": ""}, "name"),
        ("domain", {"value": "x.com", "protocol": "FTP"}, "protocol"),
        ("domain", {"value": "x.com", "protocol": "HTTP", "port": 0}, "port"),
        ("pathname", {"value": "no-slash"}, "value"),
        ("request", {"headers": {}}, "queryParams"),
        ("request", {"headers": [], "queryParams": {}}, "headers"),
        ("response", {"body": {}}, "headers"),
        ("response", b"{not json", "malformed JSON"),
    ],
)
async def test_invalid_entity_bodies_get_400_naming_the_field(
    store: HttpTrafficStore, kind: EntityKind, body: Any, field: str
) -> None:
    w = await world(store.entities)
    reply = await create(store.entities, kind, body, w.source, w.domain)
    assert reply.status == 400
    assert reply.detail is not None
    assert field in reply.detail


async def test_unknown_parents_get_404(store: HttpTrafficStore) -> None:
    ent = store.entities
    w = await world(ent)
    other = await world(ent, "Other")
    domain = {"value": "x.com", "protocol": "HTTP"}
    missing = await create(ent, "domain", domain, "nope")
    assert (missing.status, missing.detail) == (404, "Traffic source nope not found")
    foreign = await create(ent, "pathname", {"value": "/x"}, w.source, other.domain)
    assert foreign.status == 404
    assert foreign.detail == f"Domain {other.domain} not found in traffic source {w.source}"


async def test_a_taken_traffic_domain_is_a_conflict(store: HttpTrafficStore) -> None:
    ent = store.entities
    assert (await create(ent, "traffic-source", {"name": "a", "trafficDomain": "d"})).ok
    taken = await create(ent, "traffic-source", {"name": "b", "trafficDomain": "d"})
    assert taken.status == 409


# --- Writes -----------------------------------------------------------------------------


async def test_write_answers_201_with_the_full_record(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    outcome = await store.write([HttpTrafficBatch([group(w, 1, [rec(w, 404, "POST")], "in-1")])])
    reply = outcome.replies["in-1"]
    assert reply.status == 201
    assert reply.count == 1
    body = body_of(reply)
    assert body | {"id": ""} == {
        "id": "",
        "status": 404,
        "method": "POST",
        "level": "WARNING",
        "elapsedTime": 12,
        "trafficUserId": None,
        "trafficSourceId": w.source,
        "domainId": w.domain,
        "pathnameId": w.pathname,
        "requestId": w.request,
        "responseId": w.response,
        "createdAt": "06/11/2025 at 15:27:02",
    }
    assert body["id"][14] == "7"


async def test_redelivery_never_duplicates(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    w = await world(store.entities)
    batch = HttpTrafficBatch([group(w, 1, [rec(w), rec(w, 500)], "in-1"), group(w, 2, [rec(w)])])
    first = await store.write([batch])
    second = await store.write([batch, batch])
    assert first.inserted == 3
    assert second.inserted == 0
    assert second.replies["in-1"].count == 0
    assert body_of(second.replies["in-1"]) == body_of(first.replies["in-1"])
    assert await mongo[mongo_db_name][COLLECTION].count_documents({}) == 3


@pytest.mark.parametrize("field", ["domainId", "pathnameId", "requestId", "responseId"])
async def test_unknown_ids_answer_404_naming_the_id(store: HttpTrafficStore, field: str) -> None:
    w = await world(store.entities)
    outcome = await store.write(
        [HttpTrafficBatch([group(w, 1, [rec(w, **{field: "ghost"})], "in")])]
    )
    reply = outcome.replies["in"]
    assert reply.status == 404
    assert reply.detail is not None
    assert reply.detail.startswith(field[:-2].capitalize() + " ghost not found")
    assert outcome.inserted == 0


async def test_unknown_source_and_foreign_entities_answer_404(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    other = await world(store.entities, "Other")
    ghost = HttpTrafficGroup(1, T0, "in-a", "ghost-source", [rec(w)])
    foreign = group(w, 2, [rec(w, pathnameId=other.pathname)], "in-b")
    mixed = group(w, 3, [rec(w, domainId=other.domain, pathnameId=other.pathname)], "in-c")
    outcome = await store.write([HttpTrafficBatch([ghost, foreign, mixed])])
    assert outcome.replies["in-a"].detail == "Traffic source ghost-source not found"
    assert outcome.replies["in-b"].detail == (
        f"Pathname {other.pathname} not found in traffic source {w.source}"
    )
    assert outcome.replies["in-c"].detail == (
        f"Domain {other.domain} not found in traffic source {w.source}"
    )


async def test_a_pathname_of_another_domain_is_404(store: HttpTrafficStore) -> None:
    ent = store.entities
    w = await world(ent)
    domain2 = body_of(await create(ent, "domain", {"value": "b.com", "protocol": "HTTP"}, w.source))
    outcome = await store.write(
        [HttpTrafficBatch([group(w, 1, [rec(w, domainId=domain2["id"])], "in")])]
    )
    assert (
        outcome.replies["in"].detail == f"Pathname {w.pathname} not found in domain {domain2['id']}"
    )


async def test_bus_records_with_unknown_ids_are_rejected_alone(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    outcome = await store.write([HttpTrafficBatch([group(w, 1, [rec(w), rec(w, requestId="x")])])])
    assert outcome.inserted == 1
    assert [r.reason for r in outcome.rejected] == ["Request x not found"]


# --- Queries ----------------------------------------------------------------------------


async def listing(store: HttpTrafficStore, w: World, **filters: Any) -> dict[str, Any]:
    """The decoded body of a successful list query."""
    reply = await store.query(HttpTrafficQuery(traffic_source_id=w.source, **filters), 1000)
    assert reply.ok, reply.detail
    decoded: dict[str, Any] = msgspec.json.decode(reply.body)
    return decoded | {"cursor": reply.cursor}


async def test_listing_filters_newest_first(store: HttpTrafficStore) -> None:
    ent = store.entities
    w = await world(ent)
    other = await world(ent, "Other")
    path2 = body_of(await create(ent, "pathname", {"value": "/b"}, w.source, w.domain))["id"]
    statuses = [200, 201, 302, 404, 500, 503, 200, 418]
    groups = [
        group(w, i + 1, [rec(w, s, "POST" if s >= 400 else "GET")]) for i, s in enumerate(statuses)
    ]
    groups.append(group(w, 20, [rec(w, 200, pathnameId=path2)]))
    groups.append(HttpTrafficGroup(30, T0, None, other.source, [rec(other)]))
    await store.write([HttpTrafficBatch(groups)])
    everything = await listing(store, w, limit=100)
    assert everything["meta"] == {"total": 9, "page": 1, "limit": 100}
    assert [r["status"] for r in everything["data"]] == [200, *reversed(statuses)]
    assert everything["cursor"] is None
    assert [r["status"] for r in (await listing(store, w, level="FATAL"))["data"]] == [503, 500]
    warnings = await listing(store, w, level="WARNING")
    assert [r["status"] for r in warnings["data"]] == [418, 404]
    assert len((await listing(store, w, method="GET"))["data"]) == 5
    assert len((await listing(store, w, status=200))["data"]) == 3
    assert [r["pathnameId"] for r in (await listing(store, w, pathname_id=path2))["data"]] == [
        path2
    ]
    assert (await listing(store, w, domain_id=other.domain))["data"] == []
    window = await listing(
        store, w, since="2025-11-06T15:27:03.000000", until="2025-11-06T15:27:05.000000"
    )
    assert [r["createdAt"] for r in window["data"]] == [
        "06/11/2025 at 15:27:05",
        "06/11/2025 at 15:27:04",
        "06/11/2025 at 15:27:03",
    ]


async def test_listing_pages_by_number_and_by_cursor(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    await store.write([HttpTrafficBatch([group(w, i, [rec(w, 200 + i)]) for i in range(1, 26)])])
    page1 = await listing(store, w, limit=10)
    page3 = await listing(store, w, limit=10, page=3)
    assert [r["status"] for r in page3["data"]] == list(range(205, 200, -1))
    assert page3["meta"] == {"total": 25, "page": 3, "limit": 10}
    assert page3["cursor"] is None
    seen = [r["status"] for r in page1["data"]]
    cursor = page1["cursor"]
    while cursor is not None:
        nxt = await listing(store, w, limit=10, cursor=cursor)
        assert nxt["meta"]["page"] is None
        seen += [r["status"] for r in nxt["data"]]
        cursor = nxt["cursor"]
    assert seen == list(range(225, 200, -1))


async def test_listing_errors(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    unknown = await store.query(HttpTrafficQuery(traffic_source_id="nope"), 100)
    assert (unknown.status, unknown.detail) == (404, "Traffic source nope not found")
    bad = await store.query(HttpTrafficQuery(traffic_source_id=w.source, cursor="###"), 100)
    assert bad.status == 400
    capped = await listing(store, w, limit=10_000)
    assert capped["meta"]["limit"] == 1000


async def test_pages_by_number_and_cursor_cover_gaps_once(store: HttpTrafficStore) -> None:
    w = await world(store.entities)
    day = 86_400_000_000
    # Bursts a second apart, separated by gaps of days and one of a year.
    offsets = [i * 1_000_000 for i in range(30)]
    offsets += [5 * day + i * 1_000_000 for i in range(17)]
    offsets += [400 * day + i * 1_000_000 for i in range(11)]
    groups = [group(w, i + 1, [rec(w, 500 if i % 19 == 0 else 200)]) for i in range(len(offsets))]
    groups = [
        HttpTrafficGroup(g.origin_seq, T0 + off, None, g.traffic_source_id, g.records)
        for g, off in zip(groups, offsets, strict=True)
    ]
    await store.write([HttpTrafficBatch(groups)])
    everything = await listing(store, w, limit=1000)
    ids = [r["id"] for r in everything["data"]]
    assert len(ids) == len(offsets) == everything["meta"]["total"]
    stamps = [r["createdAt"] for r in everything["data"]]
    assert stamps == sorted(stamps, key=lambda t: (t[6:10], t[3:5], t[:2], t[14:]), reverse=True)
    for limit in (1, 7, 25):
        for page in range(1, len(ids) // limit + 3):
            got = await listing(store, w, limit=limit, page=page)
            assert [r["id"] for r in got["data"]] == ids[(page - 1) * limit : page * limit]
            assert got["meta"] == {"total": len(ids), "page": page, "limit": limit}
        seen: list[str] = []
        cursor = None
        while True:
            got = await listing(store, w, limit=limit, cursor=cursor)
            seen += [r["id"] for r in got["data"]]
            cursor = got["cursor"]
            if cursor is None:
                break
        assert seen == ids, limit
    # A sparse filter: the few 500s, one per page, spread over the gaps.
    fatal = [r["id"] for r in everything["data"] if r["status"] == 500]
    assert len(fatal) == 4
    pages = [await listing(store, w, limit=1, status=500, page=p) for p in (1, 2, 3, 4, 5)]
    assert [r["id"] for p in pages for r in p["data"]] == fatal
    assert pages[-1]["meta"]["total"] == 4  # exact once the walk reached the oldest


async def plural_page(
    api: PluralApi, source: str, page: int, limit: int, direction: str
) -> dict[str, Any]:
    """The decoded body of page ``page`` of the plural ``/http-traffics`` list."""
    cmd = ArkynCommand(
        kind="http-traffics",
        action="list",
        parent=source,
        page=page,
        page_limit=limit,
        sort_direction=direction,  # type: ignore[arg-type]
    )
    body: dict[str, Any] = msgspec.json.decode((await api(cmd)).body)
    return body


async def test_plural_pages_both_directions_across_gaps(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    w = await world(store.entities)
    day = 86_400_000_000
    offsets = [i * 1_000_000 for i in range(9)] + [90 * day + i * 1_000_000 for i in range(8)]
    groups = [
        HttpTrafficGroup(i + 1, T0 + off, None, w.source, [rec(w, 200 + i)])
        for i, off in enumerate(offsets)
    ]
    await store.write([HttpTrafficBatch(groups)])
    api = PluralApi(store, mongo[mongo_db_name][COLLECTION])
    newest = [200 + i for i in reversed(range(len(offsets)))]
    for direction, want in (("desc", newest), ("asc", newest[::-1])):
        got: list[int] = []
        for page in range(1, 6):
            body = await plural_page(api, w.source, page, 4, direction)
            assert body["meta"] == {"page": page, "pageLimit": 4, "totalItems": len(offsets)}
            got += [r["status"] for r in body["data"]]
        assert got == want, direction


async def test_cursors_of_the_old_format_still_page(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    w = await world(store.entities)
    await store.write([HttpTrafficBatch([group(w, i, [rec(w, 200 + i)]) for i in range(1, 13)])])
    full = await listing(store, w, limit=100)
    rows = full["data"]
    stored = await mongo[mongo_db_name][COLLECTION].find_one({"_id": rows[3]["id"]})
    assert stored is not None
    # What the API gave out before windows: base64url (unpadded) JSON [ts, id].
    raw = msgspec.json.encode([stored["ts"], stored["id"]])
    old = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    nxt = await listing(store, w, limit=3, cursor=old)
    assert [r["id"] for r in nxt["data"]] == [r["id"] for r in rows[4:7]]


async def test_generated_records_list_as_stored(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """The records ``bench.listings`` fills the database with directly (under a source made
    through the service, with the source's counter) are the store's own: listed newest
    first with their total, filtered by level, and a record the store writes afterwards
    comes first and counts."""
    ids = await http_world(store.entities.create)
    records, origins = http_records(300, ids, random.Random(7))
    docs = [traffic_document(r, o) for r, o in zip(records, origins, strict=True)]
    await mongo[mongo_db_name][COLLECTION].insert_many(docs)
    stamps = [d["ts"] for d in docs]
    counter = http_counters.traffic(ids["source"])
    await store.entities.counters.add(counter, len(docs), min(stamps), max(stamps))
    w = World(**ids)
    assert [r.id for r in records] == [d["_id"] for d in docs]
    everything = await listing(store, w, limit=1000)
    assert everything["meta"] == {"total": 300, "page": 1, "limit": 1000}
    assert [r["id"] for r in everything["data"]] == [r.id for r in records]
    assert msgspec.convert(everything["data"], list[HttpTraffic]) == records
    fatal = [r.id for r in records if r.level == "FATAL"]
    assert 0 < len(fatal) < 100  # about one in eight
    got = await listing(store, w, limit=7, level="FATAL", page=2)
    assert [r["id"] for r in got["data"]] == fatal[7:14]

    newest = origins[0] + 1_000_000
    await store.write([HttpTrafficBatch([HttpTrafficGroup(1, newest, None, w.source, [rec(w)])])])
    page1 = await listing(store, w, limit=5)
    assert page1["meta"]["total"] == 301
    assert [r["id"] for r in page1["data"]][1:] == [r.id for r in records[:4]]


class Watched(NamedTuple):
    """A store whose client's commands are recorded, and its records' collection."""

    store: HttpTrafficStore
    commands: Commands
    records: AsyncCollection[Document]


@pytest.fixture
async def watched(watched_db: WatchedDb) -> Watched:
    """A store on a fresh database whose client's commands are recorded."""
    db, commands = watched_db
    entities = HttpEntities(db)
    await entities.ensure_indexes()
    store = HttpTrafficStore(db[COLLECTION], entities)
    await store.ensure_indexes()
    return Watched(store, commands, db[COLLECTION])


async def test_a_filtered_list_reads_its_matches_not_the_rows_its_filter_skips(
    watched: Watched,
) -> None:
    """Each filter value is its own range of the facet index: a rare level, status or
    pathname reads about its rows, a value matching nothing reads none, on both APIs."""
    store, commands, records = watched
    w = await world(store.entities)
    rare = body_of(await create(store.entities, "pathname", {"value": "/r"}, w.source, w.domain))
    statuses = [503 if i % 40 == 0 else 200 for i in range(400)]
    groups = [
        group(w, i + 1, [rec(w, s, pathnameId=rare["id"] if i % 100 == 7 else w.pathname)])
        for i, s in enumerate(statuses)
    ]
    await store.write([HttpTrafficBatch(groups)])
    api = PluralApi(store, records)
    # (filters, rows listed, rows of the facet read: the first filter of HTTP_FACETS')
    for filters, expected, facet_rows in (
        ({"level": "FATAL"}, 10, 10),
        ({"status": 599}, 0, 0),
        ({"pathname_id": rare["id"]}, 4, 4),
        ({"pathname_id": rare["id"], "level": "FATAL"}, 0, 4),
        ({"method": "DELETE"}, 0, 0),
    ):
        commands.clear()
        got = await listing(store, w, limit=100, **filters)
        assert len(got["data"]) == expected, filters
        # The source and the counter are two of the rows read.
        assert commands.rows_read <= facet_rows + 4, (filters, commands.rows_read)
    commands.clear()
    cmd = ArkynCommand(
        kind="http-traffics", action="list", parent=w.source, filters={"level": "fatal"}
    )
    body = msgspec.json.decode((await api(cmd)).body)
    assert [r["status"] for r in body["data"]] == [503] * 10
    assert commands.rows_read <= 10 + 4, commands.rows_read
    # By id: that one record, read by id, if it matches the other filters.
    one = body["data"][3]["id"]
    for filters, found in (
        ({"id": one}, [one]),
        ({"id": one, "level": "fatal"}, [one]),
        ({"id": one, "level": "info"}, []),
        ({"id": "no-such-record"}, []),
    ):
        commands.clear()
        cmd = msgspec.structs.replace(cmd, filters=filters)
        body = msgspec.json.decode((await api(cmd)).body)
        assert [r["id"] for r in body["data"]] == found, filters
        assert body["meta"]["totalItems"] == len(found)
        assert commands.rows_read <= 3, (filters, commands.rows_read)


async def all_ids(store: HttpTrafficStore, w: World) -> list[str]:
    """Every record of ``w``'s source, newest first, by cursor."""
    ids: list[str] = []
    cursor = None
    while True:
        got = await listing(store, w, limit=1000, cursor=cursor)
        ids += [r["id"] for r in got["data"]]
        cursor = got["cursor"]
        if cursor is None:
            return ids


async def test_deep_page_numbers_start_in_their_ten_minutes(watched: Watched) -> None:
    """A page deep in the list is found from the day and ten-minute counts: the same rows
    as walking every row before it, in both orders, after a delete, and reading about one
    slot's rows rather than all before it."""
    store, commands, records = watched
    w = await world(store.entities)
    hour = 3_600_000_000
    day = 24 * hour
    # 14 bursts of 100 records, an hour apart; some a day or a month apart.
    starts = [i * hour for i in range(6)] + [2 * day + i * hour for i in range(5)]
    starts += [40 * day + i * hour for i in range(3)]
    groups = [
        HttpTrafficGroup(n * 100 + i + 1, T0 + start + i * 1000, None, w.source, [rec(w)])
        for n, start in enumerate(starts)
        for i in range(100)
    ]
    for chunk in range(0, len(groups), 200):
        await store.write([HttpTrafficBatch(groups[chunk : chunk + 200])])
    api = PluralApi(store, records)

    async def plural(page: int, direction: str) -> list[str]:
        body = await plural_page(api, w.source, page, 90, direction)
        assert body["meta"]["totalItems"] == len(expected)
        return [r["id"] for r in body["data"]]

    expected = await all_ids(store, w)
    assert len(expected) == 1400
    for page in (7, 8, 12, 15, 16, 17):
        want = expected[(page - 1) * 90 : page * 90]
        commands.clear()
        assert await plural(page, "desc") == want, page
        assert commands.rows_read <= 2 * 100 + 90 + 60, (page, commands.rows_read)
        assert await plural(page, "asc") == expected[::-1][(page - 1) * 90 : page * 90], page
        got = await listing(store, w, limit=90, page=page)
        assert [r["id"] for r in got["data"]] == want, page

    # A deleted record leaves the counts and the pages in step.
    gone = expected[700]
    cmd = ArkynCommand(kind="http-traffics", action="delete", parent=w.source, id=gone)
    assert (await api(cmd)).ok
    expected.remove(gone)
    assert await plural(8, "desc") == expected[630:720]
    assert await plural(9, "asc") == expected[::-1][720:810]


async def test_sources_stored_before_slot_counts_are_counted_once(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """A database written before the slot counts: the first start counts every source's
    records once; deep pages then read as they should."""
    w = await world(store.entities)
    hour = 3_600_000_000
    groups = [
        HttpTrafficGroup(i + 1, T0 + (i // 150) * hour + i, None, w.source, [rec(w)])
        for i in range(900)
    ]
    await store.write([HttpTrafficBatch(groups)])
    expected = await all_ids(store, w)
    counters = mongo[mongo_db_name][http_counters.COLLECTION]
    await counters.delete_many({"list": {"$exists": True}})
    await counters.delete_one({"_id": SLOTS_MARKER})

    await store.ensure_indexes()
    assert await counters.find_one({"_id": SLOTS_MARKER}) is not None
    key = http_counters.traffic(w.source)
    slots = await counters.find({"list": key, "lvl": 2}).to_list()
    assert sorted(d["n"] for d in slots) == [150] * 6
    got = await listing(store, w, limit=100, page=7)
    assert [r["id"] for r in got["data"]] == expected[600:700]


async def test_records_stored_before_facets_get_them_once(
    store: HttpTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    """A database written before facets: the first start gives every record its facet keys
    and drops the index they replaced; filters then list them."""
    w = await world(store.entities)
    await store.write([HttpTrafficBatch([group(w, i, [rec(w, 200 + i)]) for i in range(1, 31)])])
    col = mongo[mongo_db_name][COLLECTION]
    await col.update_many({}, {"$unset": {FACET_KEYS: ""}})
    await col.create_index([("ts", -1), ("_id", -1)])  # what the version before read by
    counters = mongo[mongo_db_name][http_counters.COLLECTION]
    await counters.delete_one({"_id": FACETS_MARKER})
    assert [r["status"] for r in (await listing(store, w, status=207))["data"]] == []

    await store.ensure_indexes()
    assert await col.count_documents({FACET_KEYS: {"$exists": False}}) == 0
    assert "ts_-1__id_-1" not in await col.index_information()
    assert await counters.find_one({"_id": FACETS_MARKER}) is not None
    assert [r["status"] for r in (await listing(store, w, status=207))["data"]] == [207]


# --- The service over the bus -----------------------------------------------------------


@pytest.fixture
async def service(
    nats_url: str, mongo_url: str, mongo_db_name: str
) -> AsyncIterator[ServiceContext]:
    """Traffic-store running in-process."""
    settings = Settings(nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name)
    async with serving("traffic-store", settings, traffic_store) as ctx:
        yield ctx


async def rpc(nc: NATS, subject: str, payload: msgspec.Struct) -> Reply:
    """A request to the service, answered with a Reply."""
    msg = await nc.request(subject, msgspec.json.encode(payload), timeout=10)
    return msgspec.json.decode(msg.data, type=Reply)


async def test_the_service_creates_writes_dead_letters_and_lists(
    service: ServiceContext, nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    async def make(
        kind: EntityKind, body: Any, source: str | None = None, domain: str | None = None
    ) -> str:
        req = HttpEntityCreate(
            kind=kind, body=msgspec.json.encode(body), traffic_source_id=source, domain_id=domain
        )
        reply = await rpc(nc, bus.RPC_HTTP_ENTITY_CREATE, req)
        assert reply.status == 201, reply.detail
        return str(body_of(reply)["id"])

    source = await make("traffic-source", {"name": "svc"})
    domain = await make("domain", {"value": "a.com", "protocol": "HTTP"}, source)
    w = World(
        source,
        domain,
        await make("pathname", {"value": "/"}, source, domain),
        await make("request", {"headers": {}, "queryParams": {}}),
        await make("response", {"headers": {}}),
    )
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    js = nc.jetstream()
    batch = HttpTrafficBatch(
        [group(w, 1, [rec(w, 503)], inbox), group(w, 2, [rec(w, responseId="r?")])]
    )
    payload = msgspec.msgpack.encode(batch)
    replies = []
    # The second publish stands for a redelivery of the batch after it was handled (sent
    # at once, both could land in one fetch, where one reply per inbox is all a caller gets).
    for _ in range(2):
        await js.publish(bus.TRAFFIC_HTTP, payload)
        replies.append(msgspec.json.decode((await sub.next_msg(timeout=10)).data, type=Reply))
    assert [(r.status, r.count) for r in replies] == [(201, 1), (201, 0)]
    assert body_of(replies[0])["level"] == "FATAL"
    dead_sub = await js.pull_subscribe(
        bus.deadletter_subject("traffic-store"), stream=bus.DEADLETTER.name
    )
    dead = await dead_sub.fetch(1, timeout=10)
    assert (dead[0].headers or {})[bus.HDR_REASON] == "Response r? not found"
    col = mongo[mongo_db_name][COLLECTION]
    assert await eventually(lambda: col.count_documents({}), lambda n: n == 1) == 1
    listed = await rpc(nc, bus.RPC_HTTP_TRAFFIC_LIST, HttpTrafficQuery(traffic_source_id=source))
    assert [r["status"] for r in body_of(listed)["data"]] == [503]
