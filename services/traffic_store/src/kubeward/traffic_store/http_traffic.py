"""arkyn HttpTraffic persistence: reference checks, idempotent inserts and paged queries.

A record's id is a UUIDv7 derived from its origin (collect sequence, collect time, index
in the message), and its ``createdAt`` is the collect time, so a redelivered batch
produces the same documents and the unique ``_id`` turns the second insert into a no-op.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import facets, mongo
from kubeward.core.mongo import Document
from kubeward.core.windows import micros, stamp
from kubeward.schemas.http_traffic import (
    HttpTraffic,
    HttpTrafficBatch,
    HttpTrafficGroup,
    HttpTrafficIn,
    HttpTrafficQuery,
    PageMeta,
    format_created_at,
    level_for,
    sort_key,
    uuid7,
)
from kubeward.schemas.replies import Reply, error
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.http_entities import HttpEntities, list_key
from kubeward.traffic_store.http_pages import FACET_KEYS, ListPages
from kubeward.traffic_store.pod_traffic import decode_cursor, encode_cursor

COLLECTION = "http_traffic"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HTTP_FACETS = ("pathnameId", "domainId", "status", "method", "level")
"""The record fields arkyn's lists filter by, read through facets (most selective first;
see :mod:`kubeward.traffic_store.http_pages`)."""
FACETS_MARKER = "migration:http_traffic-facets"
"""The marker (among the counters) that records stored before facets got theirs."""
SLOTS_MARKER = "migration:http_traffic-slots"
"""The marker (among the counters) that the sources' day and slot counts were taken once."""


class Rejected(msgspec.Struct, frozen=True):
    """A bus record whose references do not resolve: dead-lettered with ``reason``."""

    group: HttpTrafficGroup
    record: HttpTrafficIn
    reason: str


class WriteOutcome(msgspec.Struct):
    """What a write tells callers and operators."""

    replies: dict[str, Reply]
    """Per waiting reply subject: 201 with the record(s), or 404 naming the unknown id."""
    rejected: list[Rejected]
    inserted: int


class _Refs:
    """The referenced entities of a batch, fetched with one query per collection."""

    def __init__(self, found: list[dict[str, Document]]) -> None:
        self.sources, self.domains, self.pathnames, self.requests, self.responses = found

    def problem(self, source: str, rec: HttpTrafficIn) -> str | None:
        """Why ``rec`` cannot be stored under ``source``, or ``None`` when it can."""
        if source not in self.sources:
            return f"Traffic source {source} not found"
        domain = self.domains.get(rec.domain_id)
        if domain is None or domain["trafficSourceId"] != source:
            return f"Domain {rec.domain_id} not found in traffic source {source}"
        pathname = self.pathnames.get(rec.pathname_id)
        if pathname is None or pathname["trafficSourceId"] != source:
            return f"Pathname {rec.pathname_id} not found in traffic source {source}"
        if pathname["domainId"] != rec.domain_id:
            return f"Pathname {rec.pathname_id} not found in domain {rec.domain_id}"
        if rec.request_id not in self.requests:
            return f"Request {rec.request_id} not found"
        if rec.response_id not in self.responses:
            return f"Response {rec.response_id} not found"
        return None


def build_record(group: HttpTrafficGroup, index: int, rec: HttpTrafficIn) -> HttpTraffic:
    """The stored record for ``rec``: the same for every delivery of its origin message."""
    moment = _EPOCH + timedelta(microseconds=group.origin_us)
    seed = f"{group.origin_seq}:{group.origin_us}:{index}".encode()
    return HttpTraffic(
        id=uuid7(group.origin_us // 1000, seed),
        status=rec.status,
        method=rec.method,
        level=level_for(rec.status),
        elapsed_time=rec.elapsed_time,
        traffic_user_id=rec.traffic_user_id,
        traffic_source_id=group.traffic_source_id,
        domain_id=rec.domain_id,
        pathname_id=rec.pathname_id,
        request_id=rec.request_id,
        response_id=rec.response_id,
        created_at=format_created_at(moment),
    )


def _document(record: HttpTraffic, group: HttpTrafficGroup) -> Document:
    return traffic_document(record, group.origin_us)


def traffic_document(record: HttpTraffic, origin_us: int) -> Document:
    """The stored form of ``record``: with its sort time ``ts`` and list key ``lk``."""
    doc: Document = msgspec.to_builtins(record)
    doc["_id"] = record.id
    doc["ts"] = sort_key(_EPOCH + timedelta(microseconds=origin_us))
    doc["lk"] = list_key(record.traffic_source_id, doc["ts"], record.id)
    doc[FACET_KEYS] = facet_keys(doc)
    return doc


def facet_keys(doc: Document) -> list[str]:
    """A stored record's list key under each of its filter values:
    ``<source>|<field>=<value>|<ts>|<id>``."""
    found = facets.facets_of(doc, HTTP_FACETS, with_all=False)  # the unfiltered list reads lk
    parent = doc["trafficSourceId"]
    return [list_key(f"{parent}|{f}", doc["ts"], doc["id"]) for f in found]


class HttpTrafficStore:
    """The ``http_traffic`` collection, checked against :class:`HttpEntities`."""

    def __init__(self, collection: AsyncCollection[Document], entities: HttpEntities) -> None:
        self._col = collection
        self.entities = entities
        self.pages = ListPages(entities.counters)
        """Reads the list pages of this collection and of the entities'."""

    async def ensure_indexes(self) -> None:
        """Newest-first listing: one source's records by ``lk``, by a filter value by
        :data:`FACET_KEYS` (single-field string keys: SecantusDB, the local MongoDB
        stand-in, gets inclusive range bounds wrong on a compound index whose range field
        follows an equality field, which would drop rows at ``since``/``until`` exactly).
        """
        await self._col.create_index("lk")
        await self._col.create_index(FACET_KEYS)
        # (ts, _id) served sorted reads before lk and nothing reads by it now; dropping it
        # pays for part of the facet index (SecantusDB in memory, per record inserted in
        # batches of 100: 140 us with (ts, _id) and lk, 255 with the three, 220 with lk and
        # the facet keys).
        await facets.drop_indexes(self._col, ["ts_-1__id_-1"])
        projection = dict.fromkeys(("trafficSourceId", "ts", "id", *HTTP_FACETS), 1)
        await facets.backfill(
            self._col,
            self.entities.counters.collection,
            FACETS_MARKER,
            facet_keys,
            projection,
            field=FACET_KEYS,
        )
        await self._count_slots_once()

    async def _count_slots_once(self) -> None:
        """Count the records stored before sources' traffic had slot counts (once per
        database: the first start after the upgrade reads every record's source and time)."""
        markers = self.entities.counters.collection
        if await markers.find_one({"_id": SLOTS_MARKER}) is not None:
            return
        slots: Counter[tuple[str, str]] = Counter()
        async for doc in self._col.find({}, {"_id": 0, "trafficSourceId": 1, "ts": 1}):
            slots[str(doc["trafficSourceId"]), http_counters.slot_of(str(doc["ts"]))] += 1
        per_source: dict[str, dict[str, int]] = {}
        for (source, slot), n in slots.items():
            per_source.setdefault(source, {})[slot] = n
        for source, counts in per_source.items():
            await self.entities.counters.set_slots(http_counters.traffic(source), counts)
        await markers.update_one({"_id": SLOTS_MARKER}, {"$set": {"done": True}}, upsert=True)

    async def write(self, batches: list[HttpTrafficBatch]) -> WriteOutcome:
        """Insert every record whose references resolve; redelivery never adds a row.

        HTTP-originated groups are all or nothing: one unresolved id answers 404.
        """
        groups = [group for batch in batches for group in batch.groups]
        refs = await self._refs(groups)
        outcome = WriteOutcome(replies={}, rejected=[], inserted=0)
        docs: list[Document] = []
        answers: list[tuple[str, list[HttpTraffic], int]] = []
        for group in groups:
            source = group.traffic_source_id
            problems = [refs.problem(source, rec) for rec in group.records]
            if group.reply_to is not None and any(problems):
                outcome.replies[group.reply_to] = error(404, next(p for p in problems if p))
                continue
            records: list[HttpTraffic] = []
            for index, (rec, problem) in enumerate(zip(group.records, problems, strict=True)):
                if problem is not None:
                    outcome.rejected.append(Rejected(group, rec, problem))
                    continue
                record = build_record(group, index, rec)
                records.append(record)
                docs.append(_document(record, group))
            if group.reply_to is not None:
                answers.append((group.reply_to, records, len(docs) - len(records)))
        duplicates = await mongo.insert_new(self._col, docs)
        outcome.inserted = len(docs) - len(duplicates)
        await self.count_new(docs, duplicates)
        for reply_to, records, first in answers:
            new = sum(1 for i in range(first, first + len(records)) if i not in duplicates)
            body = msgspec.json.encode(records[0] if len(records) == 1 else records)
            outcome.replies[reply_to] = Reply(status=201, body=msgspec.Raw(body), count=new)
        return outcome

    async def _refs(self, groups: list[HttpTrafficGroup]) -> _Refs:
        ent = self.entities
        records = [rec for group in groups for rec in group.records]
        return _Refs(
            [
                await ent.found(ent.sources, {g.traffic_source_id for g in groups}),
                await ent.found(ent.domains, {r.domain_id for r in records}, ("trafficSourceId",)),
                await ent.found(
                    ent.pathnames,
                    {r.pathname_id for r in records},
                    ("trafficSourceId", "domainId"),
                ),
                await ent.found(ent.requests, {r.request_id for r in records}),
                await ent.found(ent.responses, {r.response_id for r in records}),
            ]
        )

    async def count_new(self, docs: list[Document], duplicates: set[int]) -> None:
        """Move the per-source traffic counters by the documents genuinely inserted."""
        per_source: dict[str, list[str]] = {}
        for index, doc in enumerate(docs):
            if index not in duplicates:
                per_source.setdefault(doc["trafficSourceId"], []).append(doc["ts"])
        for source, times in per_source.items():
            await self.entities.counters.add_times(http_counters.traffic(source), times)

    async def insert(self, docs: list[Document]) -> set[int]:
        """Insert ``docs`` (duplicates ignored) and count them; the duplicate positions."""
        duplicates = await mongo.insert_new(self._col, docs)
        await self.count_new(docs, duplicates)
        return duplicates

    async def query(self, q: HttpTrafficQuery, max_page: int) -> Reply:
        """One page newest first, as arkyn's ``{"data": [...], "meta": {...}}``, plus a cursor.

        Read through the source's ``lk`` range in time windows (see
        :mod:`kubeward.traffic_store.http_pages`): a cursor page reads its rows, page
        number ``p`` the ``p x limit`` rows up to it; ``total`` is the source's counter
        (a filtered list's is exact once the windows reach its oldest match).
        """
        if not await self.entities.source_exists(q.traffic_source_id):
            return error(404, f"Traffic source {q.traffic_source_id} not found")
        limit = max(1, min(q.limit, max_page))
        page: int | None = max(1, q.page)
        before: str | None = None
        if q.cursor is not None:
            try:
                after_ts, after_id = decode_cursor(q.cursor)
                before = list_key(q.traffic_source_id, stamp(micros(after_ts)), after_id)
            except ValueError as exc:
                return error(400, str(exc))
            page = None
        try:
            found = await self.pages.page(
                self._col,
                parent=q.traffic_source_id,
                counter=http_counters.traffic(q.traffic_source_id),
                skip=0 if page is None else (page - 1) * limit,
                limit=limit,
                extra=_filter(q),
                since=q.since,
                until=q.until,
                before=before,
                projection={"_id": 0},
                facet_fields=HTTP_FACETS,
                ranked=True,
            )
        except ValueError as exc:
            return error(400, f"since/until: {exc}")
        docs = found.rows
        cursor = encode_cursor(docs[-1]["ts"], docs[-1]["id"]) if found.more and docs else None
        for doc in docs:
            del doc["ts"]
        rows = msgspec.convert(docs, list[HttpTraffic])
        meta = PageMeta(total=found.total, page=page, limit=limit)
        body = msgspec.json.encode({"data": rows, "meta": meta})
        return Reply(body=msgspec.Raw(body), cursor=cursor)


def _filter(q: HttpTrafficQuery) -> dict[str, Any]:
    """The filters other than the source and the time (those bound the ``lk`` range)."""
    flt: dict[str, Any] = {}
    for field, value in (
        ("level", q.level),
        ("method", q.method),
        ("status", q.status),
        ("domainId", q.domain_id),
        ("pathnameId", q.pathname_id),
    ):
        if value is not None:
            flt[field] = value
    return flt
