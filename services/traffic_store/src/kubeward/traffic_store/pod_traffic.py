"""Pod traffic persistence: idempotent batched flow upserts and keyset-paged queries."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

import msgspec
from pymongo import DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.core.windows import matcher, micros, stamp, walk_down
from kubeward.schemas.replies import Reply, error
from kubeward.schemas.traffic import (
    PodTrafficBatch,
    PodTrafficEvent,
    PodTrafficFlow,
    PodTrafficGroup,
    PodTrafficQuery,
)
from kubeward.traffic_store.flows import Flow, fold
from kubeward.traffic_store.origin_claims import COLLECTION as CLAIMS
from kubeward.traffic_store.origin_claims import OriginClaims
from kubeward.traffic_store.rare_flows import COLLECTION as RARE
from kubeward.traffic_store.rare_flows import MARKER as RARE_MARKER
from kubeward.traffic_store.rare_flows import RareFlows, reads_here

log = logging.getLogger(__name__)

COLLECTION = "pod_traffic"
APPLIED_MEMORY = 256
"""Stream sequences a flow remembers. It must exceed the messages of one write window
(``POD_TRAFFIC_WINDOW_MESSAGES`` is capped below it): a redelivery older than this many
later messages to the same flow could count twice."""
KNOWN_FLOWS = 200_000
"""Flow keys a store remembers as stored (to skip the insert attempt for them), at most;
past it the memory starts again empty."""
SETTLE_ROUNDS = 5
"""Rounds of :meth:`PodTrafficStore._settle` before a batch fails (and is tried again)."""
_NONE: frozenset[int] = frozenset()
_ROW_FIELDS = PodTrafficEvent.__struct_fields__
_STATS_FIELDS = ("first_seen", "last_seen", "hits")


_NEWEST_FIRST = [("time_stamp", DESCENDING), ("uuid", DESCENDING)]
SPANS = "pod_traffic_spans"
"""The oldest and newest ``time_stamp`` written: where listing windows start and end."""
DROPS_SPAN = "pod_traffic.drops"
"""The ``SPANS`` document whose ``last`` is the newest ``last_seen`` of a DROP flow ("" for
none): a failed pod's DROP search is skipped when no DROP was seen in its window."""
FIRST_WINDOW_US = 1_000_000
"""The first listing window (1 s of ``time_stamp``) before any density is known."""
_DENSITIES = 1024
"""Filter shapes whose last seen density is remembered (the map is reset when full)."""


class NewFlow(NamedTuple):
    """A flow a write created: its dedup key, the first stream sequence that brought it
    and its stored row."""

    key: str
    seq: int
    row: PodTrafficEvent


class WriteOutcome(msgspec.Struct):
    """Rows a batch inserted, per reply subject that asked for the outcome."""

    inserted: dict[str, list[PodTrafficEvent]]
    waiting: list[str]
    """Every reply subject in the batch, including those that inserted nothing."""
    new_flows: int
    created: list[NewFlow] = msgspec.field(default_factory=list)
    """Every flow this write created (never one that existed), in write order."""


class PodTrafficStore:
    """The ``pod_traffic`` collection: one document per deduplicated flow."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        ephemeral_port_min: int,
        known_flows: int = KNOWN_FLOWS,
    ) -> None:
        self._col = collection
        self._spans: AsyncCollection[Document] = collection.database[SPANS]
        self._ephemeral = ephemeral_port_min
        self._known: set[str] = set()
        """Keys of flows seen stored: their next sightings go straight to the update."""
        self._known_max = known_flows
        self._density: dict[tuple[object, ...], float] = {}
        self._claims = OriginClaims(collection.database[CLAIMS])
        self._rare = RareFlows(collection.database[RARE])

    async def ensure_indexes(self) -> None:
        """Indexes for newest-first listing, overall and per pod or namespace, and by the
        other end's address."""
        await self._col.create_index(_NEWEST_FIRST)
        await self._col.create_index(
            [("pod_name", 1), ("time_stamp", DESCENDING), ("uuid", DESCENDING)]
        )
        await self._col.create_index(
            [("pod_namespace", 1), ("time_stamp", DESCENDING), ("uuid", DESCENDING)]
        )
        # The flows aimed at an address (a failed pod's callers, DROPs to a host its logs
        # name): see ``failure_traffic``.
        await self._col.create_index([("traffic_in_out_ip", 1), ("time_stamp", DESCENDING)])
        await self._claims.ensure_indexes()
        await self._rare.ensure_indexes()
        await self._record_existing_span()
        await self._rare.copy_existing(self._col, self._spans)

    async def write(
        self, messages: list[tuple[int, PodTrafficBatch]], retried: Collection[int] = ()
    ) -> WriteOutcome:
        """Apply every flow of ``messages`` (``(stream sequence, batch)`` pairs) exactly once.

        One write per distinct flow: an insert (with the batch's hits) for a flow this
        store has not seen stored, batched in one ``insert_many``; a guarded upsert for
        the others and for those whose insert found the flow there. On SecantusDB an
        insert costs a fraction of an upsert, and with repeats folded per batch most
        flows are either new or hot. Each flow document remembers the last stream
        sequences applied to it, so a redelivered message neither adds a row nor counts
        its events again; and each collect message's group is applied by the one message
        that claimed it (:mod:`~kubeward.traffic_store.origin_claims`), so a group ingest
        forwarded twice in different messages counts once.

        The flows of ``retried`` messages (redelivered, or tried before in this delivery)
        were probably written already: they skip the insert and upsert attempts, which
        would fail one by one, and go straight to :meth:`_settle` (read what was applied,
        write the rest).
        """
        messages = await self._claims.own(messages)
        groups: list[PodTrafficGroup] = []
        parts: dict[str, list[_Op]] = {}  # per flow: what each message contributed, in order
        for seq, batch in messages:
            offset = len(groups)
            groups.extend(batch.groups)
            for key, flow in fold(batch.groups, self._ephemeral).items():
                parts.setdefault(key, []).append(_Op(key, flow, (seq,), offset + flow.group))
        outcome = WriteOutcome(
            inserted={}, waiting=[g.reply_to for g in groups if g.reply_to], new_flows=0
        )
        await self._widen_for(parts)
        merged = [_merge(ops) for ops in parts.values()]
        again = [op for op in merged if not set(op.seqs).isdisjoint(retried)]
        first = [op for op in merged if set(op.seqs).isdisjoint(retried)]
        inserted, stored = await self._insert([op for op in first if op.key not in self._known])
        upserts = [op for op in first if op.key in self._known or op.key in stored]
        created = inserted | await self._apply(upserts, parts) | await self._settle(again, parts)
        await self._rare.add((op.key, op.flow.first) for op in merged if op.key in created)
        self._remember(op.key for op in merged)
        for op in merged:
            if op.key not in created:
                continue
            outcome.new_flows += 1
            outcome.created.append(NewFlow(op.key, op.seqs[0], op.flow.first))
            reply_to = groups[op.group].reply_to
            if reply_to is not None:
                outcome.inserted.setdefault(reply_to, []).append(op.flow.first)
        return outcome

    async def _widen_for(self, parts: dict[str, list[_Op]]) -> None:
        """Widen the listing span to every time ``parts`` may store (see :meth:`query`),
        and the DROP span to their DROP flows' sightings."""
        flows = [op.flow for ops in parts.values() for op in ops]
        if flows:
            drops = [f.last_seen for f in flows if f.first.decision == "DROP"]
            await self.widen_span(
                min(f.first_seen for f in flows),
                max(f.last_seen for f in flows),
                max(drops) if drops else None,
            )

    async def created_by(self, messages: list[tuple[int, PodTrafficBatch]]) -> list[NewFlow]:
        """The stored flows that ``messages`` created (``created_seq`` is one of theirs).

        For a redelivered message: its first delivery may have written its flows and died
        before announcing them (or copying the rare ones, which this does); the
        redelivery finds them stored and creates nothing.
        One ``_id`` lookup per flow of the messages (a filter on another field would make
        SecantusDB scan), in ``$in`` lists of :data:`~kubeward.core.mongo.IN_CHUNK`; the
        sequence is checked here.
        """
        keys = {key for _seq, batch in messages for key in fold(batch.groups, self._ephemeral)}
        if not keys:
            return []
        seqs = {seq for seq, _batch in messages}
        projection = dict.fromkeys((*_ROW_FIELDS, "created_seq"), 1)
        found: list[NewFlow] = []
        async for doc in mongo.find_in(self._col, "_id", sorted(keys), projection):
            if doc.get("created_seq") in seqs:
                fields = {f: doc[f] for f in _ROW_FIELDS if f in doc}
                row = msgspec.convert(fields, PodTrafficEvent)
                found.append(NewFlow(doc["_id"], doc["created_seq"], row))
        await self._rare.add((flow.key, flow.row) for flow in found)
        return found

    def _remember(self, keys: Iterable[str]) -> None:
        """Note ``keys`` as stored (after a write that stored them succeeded)."""
        self._known.update(keys)
        if len(self._known) > self._known_max:
            self._known.clear()

    async def _insert(self, ops: list[_Op]) -> tuple[set[str], set[str]]:
        """Insert ``ops``' flows as new documents; return the keys inserted and those
        already stored (their insert failed on the duplicate ``_id``), to be upserted."""
        refused = await mongo.insert_new(self._col, [_document(op) for op in ops])
        stored = {ops[index].key for index in refused}
        return {op.key for op in ops} - stored, stored

    async def _apply(self, ops: list[_Op], parts: dict[str, list[_Op]]) -> set[str]:
        """Upsert ``ops`` (one per flow); return the keys of the flows they created."""
        if not ops:  # a batch of empty groups (e.g. an HTTP caller's empty array)
            return set()
        try:
            result = await self._col.bulk_write([_upsert(op) for op in ops], ordered=False)
        except BulkWriteError as exc:
            details = dict(exc.details)
            errors = details.get("writeErrors", [])
            if any(e.get("code") != mongo.DUPLICATE_KEY for e in errors):
                raise
            settled = await self._settle([ops[e["index"]] for e in errors], parts)
            return settled | {ops[item["index"]].key for item in details.get("upserted", [])}
        return {ops[index].key for index in result.upserted_ids or {}}

    async def _settle(self, ops: list[_Op], parts: dict[str, list[_Op]]) -> set[str]:
        """Apply ``ops`` whose flows are probably stored with some of their sequences
        applied, together; return the keys of the flows this created (none were stored).

        Either another writer created the flow a moment ago, or some of the sequences were
        applied before (a redelivery, or a second try after an outage): each flow's
        ``applied`` sequences are read (one ``_id`` lookup per
        :data:`~kubeward.core.mongo.IN_CHUNK` flows) and the parts of the messages not
        applied yet go out as one guarded upsert per flow, in one bulk write. A flow another
        writer touched in between fails its guard again and is looked at once more. A batch
        tried again after a crash is every flow of it: one round trip per flow here took
        ~4 ms each (a journaled write on SecantusDB) and held traffic-store for minutes at
        20 k flows.
        """
        pending = {op.key: op for op in ops}
        created: set[str] = set()
        for _round in range(SETTLE_ROUNDS):
            if not pending:
                break
            applied = await self._applied(list(pending))
            rest = [
                _merge(todo)
                for key in pending
                if (todo := [p for p in parts[key] if applied.get(key, _NONE).isdisjoint(p.seqs)])
            ]
            if not rest:
                return created
            try:
                result = await self._col.bulk_write([_upsert(op) for op in rest], ordered=False)
            except BulkWriteError as exc:
                details = dict(exc.details)
                errors = details.get("writeErrors", [])
                if any(e.get("code") != mongo.DUPLICATE_KEY for e in errors):
                    raise
                created |= {rest[item["index"]].key for item in details.get("upserted", [])}
                pending = {rest[e["index"]].key: rest[e["index"]] for e in errors}
            else:
                return created | {rest[index].key for index in result.upserted_ids or {}}
        if not pending:
            return created
        raise RuntimeError(f"{len(pending)} flows still contended after {SETTLE_ROUNDS} rounds")

    async def _applied(self, keys: list[str]) -> dict[str, frozenset[int]]:
        """The ``applied`` sequences of each stored flow of ``keys``."""
        found: dict[str, frozenset[int]] = {}
        async for doc in mongo.find_in(self._col, "_id", keys, {"applied": 1}):
            found[doc["_id"]] = frozenset(doc.get("applied", ()))
        return found

    async def query(self, q: PodTrafficQuery, max_page: int) -> Reply:
        """One page of rows, newest first by ``(time_stamp, uuid)``, and the next cursor.

        Read as bounded windows of ``time_stamp`` (see :mod:`kubeward.core.windows`) on
        the pod's index, the rare flows' (:mod:`~kubeward.traffic_store.rare_flows`: a
        filter on a decision other than ALLOW or an unusual traffic type), the
        namespace's or the overall time index, in that order of preference, between the
        newest and oldest times ever written (:meth:`span`): O(page), never O(collection).
        """
        after: tuple[str, str] | None = None
        if q.cursor is not None:
            try:
                after = decode_cursor(q.cursor)
            except ValueError as exc:
                return error(400, str(exc))
        limit = max(1, min(q.limit, max_page))
        span = await self.span()
        if span is None:
            return Reply(body=msgspec.Raw(b"[]"))
        top = micros(span[1])
        floor = micros(span[0]) - 1
        try:
            if q.until is not None:
                top = min(top, micros(q.until) - 1)
            if after is not None:
                top = min(top, micros(after[0]))
            if q.since is not None:
                floor = max(floor, micros(q.since) - 1)
        except ValueError as exc:
            return error(400, str(exc))
        # The index's equality prefix goes to the database, the rest is matched here.
        prefix: dict[str, Any] = {}
        residual: dict[str, Any] = {}
        rare = q.pod_name is None and reads_here(q.decision, q.traffic_type)
        source = self._rare.col if rare else self._col
        if q.pod_name is not None:
            prefix["pod_name"] = q.pod_name
        if q.namespace is not None:
            (residual if prefix or rare else prefix)["pod_namespace"] = q.namespace
        if q.traffic_type is not None:
            residual["traffic_type"] = q.traffic_type
        if q.decision is not None:
            residual["decision"] = q.decision
        matches = matcher(residual)
        fields = _ROW_FIELDS + (_STATS_FIELDS if q.with_stats and not rare else ())
        # A rare flow's counts are read from its flow by ``_id`` once the page is known.
        projection: dict[str, int] = {"_id": int(rare and q.with_stats)} | dict.fromkeys(fields, 1)

        async def fetch(lo: int, hi: int) -> list[Document]:
            window = {"$gt": stamp(lo), "$lte": stamp(hi)}
            found = await source.find(prefix | {"time_stamp": window}, projection).to_list()
            docs = [d for d in found if matches(d)]
            if after is not None:  # the cursor's own time: only rows after it in the order
                docs = [d for d in docs if (d["time_stamp"], d["uuid"]) < after]
            return docs

        density_key = (q.pod_name is not None, q.namespace is not None, q.traffic_type, q.decision)
        walk = await walk_down(
            fetch,
            top=top,
            floor=floor,
            need=limit + 1,
            order=_newest,
            density=self._density.get(density_key, 0.0),
            first_width=FIRST_WINDOW_US,
        )
        if walk.density:
            if len(self._density) >= _DENSITIES:
                self._density.clear()
            self._density[density_key] = walk.density
        docs = walk.rows
        more = len(docs) > limit
        docs = docs[:limit]
        cursor = encode_cursor(docs[-1]["time_stamp"], docs[-1]["uuid"]) if more else None
        if rare and q.with_stats:
            docs = await self._with_stats(docs)
        row_type = PodTrafficFlow if q.with_stats else PodTrafficEvent
        rows = msgspec.json.encode(msgspec.convert(docs, list[row_type]))  # type: ignore[valid-type]
        return Reply(body=msgspec.Raw(rows), cursor=cursor)

    async def _with_stats(self, rows: list[Document]) -> list[Document]:
        """``rows`` of rare flows (with their ``_id``) with their flows' counts, read by
        ``_id``; a row whose flow is not stored (never seen: the copy follows the
        flow's write) is left out."""
        stats = {
            doc.pop("_id"): doc
            async for doc in mongo.find_in(
                self._col, "_id", [r["_id"] for r in rows], dict.fromkeys(_STATS_FIELDS, 1)
            )
        }
        return [row | stats[row["_id"]] for row in rows if row["_id"] in stats]

    async def span(self) -> tuple[str, str] | None:
        """The oldest and newest ``time_stamp`` ever written (``None``: nothing written)."""
        doc = await self._spans.find_one({"_id": COLLECTION})
        if doc is None:
            return None
        return doc["first"], doc["last"]

    async def widen_span(self, first: str, last: str, last_drop: str | None = None) -> None:
        """Make the recorded span cover ``first``..``last`` (before rows are written, so a
        listing's windows always reach every stored row), and the DROP span ``last_drop``;
        one round trip."""
        ops = [
            UpdateOne(
                {"_id": COLLECTION},
                {"$min": {"first": first}, "$max": {"last": last}},
                upsert=True,
            )
        ]
        if last_drop is not None:
            ops.append(UpdateOne({"_id": DROPS_SPAN}, {"$max": {"last": last_drop}}, upsert=True))
        await self._spans.bulk_write(ops, ordered=False)

    async def _record_existing_span(self) -> None:
        """Once, for a collection written before spans were kept: read its ends (a scan)."""
        if await self._spans.find_one({"_id": DROPS_SPAN}) is None:
            seen = ""
            async for doc in self._col.find(
                {"decision": "DROP"}, {"last_seen": 1, "time_stamp": 1}
            ):
                seen = max(seen, str(doc.get("last_seen") or doc["time_stamp"]))
            await self._spans.update_one({"_id": DROPS_SPAN}, {"$max": {"last": seen}}, upsert=True)
        if await self.span() is not None:
            return
        oldest = await self._col.find({}, {"time_stamp": 1}).sort("time_stamp", 1).to_list(1)
        newest = await self._col.find({}, {"time_stamp": 1}).sort("time_stamp", -1).to_list(1)
        if oldest and newest:
            await self.widen_span(oldest[0]["time_stamp"], newest[0]["time_stamp"])


class Sightings(NamedTuple):
    """What the ``SPANS`` documents say about the stored flows (:func:`sightings`)."""

    newest_flow: str
    """The newest sighting of any flow ("" for none)."""
    newest_drop: str | None
    """The newest sighting of a DROP flow ("" for none; ``None`` while unknown: a database
    written before it was kept, until traffic-store's start records it)."""
    rare_copied: bool
    """Whether every rare flow has its copy in ``pod_traffic_rare`` (not yet on a
    database written before the copies, until traffic-store's start makes them)."""


async def sightings(db: AsyncDatabase[Document]) -> Sightings:
    """The :class:`Sightings` of the flows of ``db``, in one read."""
    found = {
        doc["_id"]: doc
        async for doc in db[SPANS].find({"_id": {"$in": [COLLECTION, DROPS_SPAN, RARE_MARKER]}})
    }
    drop = found.get(DROPS_SPAN)
    return Sightings(
        str(found.get(COLLECTION, {}).get("last", "")),
        None if drop is None else str(drop["last"]),
        RARE_MARKER in found,
    )


def _newest(doc: Document) -> tuple[str, str]:
    return doc["time_stamp"], doc["uuid"]


def encode_cursor(time_stamp: str, uuid: str) -> str:
    """Opaque keyset cursor: the last row of a page."""
    raw = msgspec.json.encode((time_stamp, uuid))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Inverse of :func:`encode_cursor`; ``ValueError`` when ``cursor`` is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=tuple[str, str])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValueError(f"cursor: {cursor!r} is not a cursor from this API") from None


class _Op(NamedTuple):
    key: str
    flow: Flow
    seqs: tuple[int, ...]
    group: int


def _merge(ops: list[_Op]) -> _Op:
    """One op for a flow's contributions from several messages."""
    if len(ops) == 1:
        return ops[0]
    flow = ops[0].flow.copy()
    for op in ops[1:]:
        flow.absorb(op.flow)
    return _Op(ops[0].key, flow, tuple(s for op in ops for s in op.seqs), ops[0].group)


def _guarded(op: _Op) -> tuple[dict[str, Any], dict[str, Any]]:
    """Filter and update that apply ``op`` unless one of its sequences was applied."""
    return (
        {"_id": op.key, "applied": {"$nin": list(op.seqs)}},
        {
            "$setOnInsert": msgspec.structs.asdict(op.flow.first) | {"created_seq": op.seqs[0]},
            "$inc": {"hits": op.flow.hits},
            "$min": {"first_seen": op.flow.first_seen},
            "$max": {"last_seen": op.flow.last_seen},
            "$push": {"applied": {"$each": list(op.seqs), "$slice": -APPLIED_MEMORY}},
        },
    )


def _document(op: _Op) -> Document:
    """The document :func:`_guarded`'s upsert would insert for ``op``."""
    return (
        {"_id": op.key}
        | msgspec.structs.asdict(op.flow.first)
        | {
            "created_seq": op.seqs[0],
            "hits": op.flow.hits,
            "first_seen": op.flow.first_seen,
            "last_seen": op.flow.last_seen,
            "applied": list(op.seqs[-APPLIED_MEMORY:]),
        }
    )


def _upsert(op: _Op) -> UpdateOne:
    return UpdateOne(*_guarded(op), upsert=True)
