"""Failed-pod records in MongoDB (collection ``pod_failures``, owned by failure-analyzer).

One record per failure of a pod. While a record is open (new, investigating or ignored) it
carries ``open_key`` = ``namespace/pod``, unique among records that have one: a repeat
report for the pod updates that record, and two replicas racing on the first report of a
pod cannot both create one. Resolving a record removes its key; the pod's next failure
starts a new record. Ids are integers from a counter document, as the Kure API has them,
reserved a block ahead while reports keep coming (:class:`~kubeward.core.id_blocks.IdBlocks`:
ids follow creation time to within a second across replicas, and may skip numbers).

Idempotency: each record remembers the last :data:`APPLIED_MEMORY` report tags
(``<collect seq>:<index>``) it absorbed, so a redelivered report changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from kubeward.core import mongo
from kubeward.core.id_blocks import IdBlocks
from kubeward.core.mongo import Document
from kubeward.core.windows import walk_down
from kubeward.failure_analyzer.crash_logs import CleanLogs, merge, with_logs
from kubeward.failure_analyzer.open_records import OpenRecords
from kubeward.schemas.pod_failures import (
    ACTIVE_STATUSES,
    FailureQuery,
    FailureReportEnvelope,
    FailureStatus,
    PodFailure,
    PodFailureReport,
    SolutionSource,
)

COLLECTION = "pod_failures"
COUNTERS = "counters"
APPLIED_MEMORY = 64

_VIEWS: dict[str, list[str]] = {
    "active": list(ACTIVE_STATUSES),
    "history": ["resolved"],
    "ignored": ["ignored"],
}
_REPORT_FIELDS = (
    "node_name",
    "phase",
    "creation_timestamp",
    "failure_reason",
    "failure_message",
    "container_statuses",
    "init_container_statuses",
    "events",
    "logs",
    "manifest",
    "failure_logs",
)
_STORED_FIELDS = tuple(f for f in _REPORT_FIELDS if f != "failure_logs")
"""A report's crash logs are kept apart, cleaned (:mod:`~kubeward.failure_analyzer.crash_logs`);
records stored before that may still hold the agent's raw ``failure_logs``."""
LOGS_COLLECTION = "pod_failure_logs"
"""Cleaned crash logs, one document per record (``_id`` = the record's id)."""
KURE_DELETABLE = ("resolved", "ignored")
SWEEP_ORIGIN = datetime(2000, 1, 1)
"""Where a store's first sweep starts (no record changed status before)."""
SWEEP_OVERLAP = timedelta(hours=1)
"""How far back of the last sweep's cutoff a sweep looks again (clock skew between
replicas setting ``status_changed_at``)."""
SWEEP_FIRST_WINDOW = timedelta(hours=1)
"""The first ``status_changed_at`` window of a sweep; later ones widen or narrow to hold
about one batch."""
DENSITY_MEMORY = 1024
"""The most (view, namespace) page densities a store remembers (then it forgets them all)."""
LATEST_FIRST_WINDOW = 128
"""Ids in the first window :meth:`FailureStore.latest_of_pod` reads (each next one is
four times wider): at most that many of a pod's records are read when it failed often."""
_to_builtins = msgspec.to_builtins
EPOCH = datetime(1970, 1, 1)


class Outcome(enum.Enum):
    """What a report did to the store."""

    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE = "duplicate"


class Solution(msgspec.Struct, frozen=True, kw_only=True):
    """A solution to store on a record."""

    text: str
    source: SolutionSource
    analyzer: str | None = None
    error: str | None = None


def utcnow() -> datetime:
    """Now, naive UTC with millisecond precision (what MongoDB keeps)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: datetime | None) -> str | None:
    """A stored time as RFC 3339 UTC."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def open_key(namespace: str, pod_name: str) -> str:
    """The key an open record of a pod carries."""
    return f"{namespace}/{pod_name}"


def report_of(doc: Mapping[str, Any]) -> PodFailureReport:
    """The latest report a record holds (for a new diagnosis)."""
    fields = {name: doc.get(name) for name in _REPORT_FIELDS}
    fields = {k: v for k, v in fields.items() if v is not None}
    return msgspec.convert(
        {"pod_name": doc["pod_name"], "namespace": doc["namespace"], **fields}, PodFailureReport
    )


def to_api(doc: Mapping[str, Any]) -> PodFailure:
    """A stored record as the API returns it."""
    first_seen = iso(doc["first_seen"])
    return msgspec.convert(
        {
            "id": doc["_id"],
            "pod_name": doc["pod_name"],
            "namespace": doc["namespace"],
            "node_name": doc.get("node_name"),
            "phase": doc.get("phase"),
            "creation_timestamp": doc.get("creation_timestamp"),
            "failure_reason": doc.get("failure_reason") or "Unknown",
            "failure_message": doc.get("failure_message"),
            "container_statuses": doc.get("container_statuses") or [],
            "events": doc.get("events") or [],
            "logs": doc.get("logs") or "",
            "manifest": doc.get("manifest") or "",
            "solution": doc.get("solution") or "",
            "solution_source": doc.get("solution_source") or "offline",
            "llm_error": doc.get("llm_error"),
            "analyzer": doc.get("analyzer"),
            "timestamp": doc.get("creation_timestamp") or first_seen,
            "first_seen": first_seen,
            "last_seen": iso(doc["last_seen"]),
            "report_count": doc.get("report_count", 1),
            "status": doc.get("status", "new"),
            "dismissed": doc.get("dismissed", False),
            "resolved_at": iso(doc.get("resolved_at")),
            "status_changed_at": iso(doc.get("status_changed_at")),
            "resolution_note": doc.get("resolution_note"),
            "logs_captured": bool(doc.get("logs_captured")),
            "log_aware_solution": doc.get("log_aware_solution"),
            "log_aware_solution_generated_at": iso(doc.get("log_aware_solution_generated_at")),
        },
        PodFailure,
    )


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """A record before and after a status change (``before`` is ``None`` when unknown)."""

    before: FailureStatus | None
    doc: Document | None
    """The record after the change; ``None`` when no record has the id."""

    @property
    def changed(self) -> bool:
        """Whether the status really changed."""
        return self.doc is not None and self.before != self.doc["status"]


class FailureStore:
    """Reads and writes of failed-pod records."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col: AsyncCollection[Document] = db[COLLECTION]
        self._counters: AsyncCollection[Document] = db[COUNTERS]
        self._logs: AsyncCollection[Document] = db[LOGS_COLLECTION]
        self._ids = IdBlocks(self._counters, COLLECTION)
        """New records' ids, reserved a block ahead while reports keep coming."""
        self._open = OpenRecords(f for f in _STORED_FIELDS if f != "failure_reason")
        """Open records as last written or read here (a repeat report's write needs no
        read); ``failure_reason`` is kept for :func:`_repeat_update`."""
        self._swept: dict[str, datetime] = {}
        """Per status, the cutoff up to which this store's last sweep deleted."""
        self._densities: dict[tuple[str, str | None], float] = {}
        """Per (view, namespace), the share of ids its last page matched (sizes the next
        page's first id window)."""

    async def ensure_indexes(self) -> None:
        """Create the indexes the service relies on (idempotent)."""
        await self._col.create_index("open_key", unique=True, sparse=True)
        await self._col.create_index([("status", ASCENDING), ("_id", DESCENDING)])
        await self._col.create_index(
            [("status", ASCENDING), ("namespace", ASCENDING), ("_id", DESCENDING)]
        )
        await self._col.create_index([("status", ASCENDING), ("status_changed_at", ASCENDING)])
        await self._col.create_index(
            [("namespace", ASCENDING), ("pod_name", ASCENDING), ("_id", DESCENDING)]
        )
        await mongo.ensure_counter(self._counters, COLLECTION)

    async def _next_id(self) -> int:
        [record_id] = await self._ids.take(1)
        return record_id

    async def _update(self, query: Document, update: Document) -> Document | None:
        """Apply ``update`` to the record ``query`` matches (its ``_id`` included) and return
        the record as it is then; ``None`` when nothing matched.

        Two round trips rather than ``find_one_and_update``: SecantusDB runs that as a
        collection scan (35 ms at 4000 records against ~2 ms for these two). The record's
        ``rev`` goes up (see :mod:`~kubeward.failure_analyzer.open_records`).
        """
        update = {**update, "$inc": {**update.get("$inc", {}), "rev": 1}}
        result = await self._col.update_one(query, update)
        if result.matched_count == 0:
            return None
        doc = await self._col.find_one({"_id": query["_id"]})
        if doc is not None:
            self._open.forget(open_key(doc["namespace"], doc["pod_name"]), doc["_id"])
            self._open.remember(doc)
        return doc

    async def get(self, record_id: int) -> Document | None:
        """One record by id."""
        return await self._col.find_one({"_id": record_id})

    async def record(
        self, envelope: FailureReportEnvelope, solution: Solution, *, logs_captured: bool = False
    ) -> tuple[Outcome, Document]:
        """Store a report: update the pod's open record, or create one.

        ``solution`` replaces the stored one unless the record already holds an LLM answer
        for the same failure reason (a repeat report should not throw that away).
        ``logs_captured`` says the report brought crash logs (saved with :meth:`save_logs`);
        a later report without any does not clear the flag.
        """
        report = envelope.report
        key = open_key(report.namespace, report.pod_name)
        tag = _tag(envelope)
        fields = _fields(report, logs_captured)
        while True:
            existing = await self._col.find_one({"open_key": key})
            if existing is not None:
                if tag in existing.get("applied", []):
                    return Outcome.DUPLICATE, existing
                update = _repeat_update(existing, envelope, fields, solution)
                doc = await self._update({"_id": existing["_id"], "open_key": key}, update)
                if doc is not None:
                    return Outcome.UPDATED, doc
                continue  # resolved meanwhile: the report starts a new record
            doc = _new_record(await self._next_id(), envelope, fields, solution, logs_captured)
            try:
                await self._col.insert_one(doc)
            except DuplicateKeyError:
                continue  # another replica created the pod's record first: update that
            return Outcome.CREATED, doc

    async def open_records(self, pods: Sequence[tuple[str, str]]) -> dict[str, Document]:
        """The open records of (namespace, pod name) pairs, by ``open_key``: one read."""
        keys = [open_key(namespace, pod_name) for namespace, pod_name in pods]
        return {doc["open_key"]: doc async for doc in mongo.find_in(self._col, "open_key", keys)}

    async def record_many(
        self, items: Sequence[Recording], existing: Mapping[str, Document] | None = None
    ) -> list[tuple[Outcome, Document]]:
        """:meth:`record` for reports of distinct pods, in one round trip whatever their
        number, when all goes well.

        Without ``existing``, nothing is read first. A pod whose open record this store
        remembers (:class:`~kubeward.failure_analyzer.open_records.OpenRecords`) has it
        updated on condition that it is unchanged since (its ``rev``); any other pod's
        report creates a record, which the unique ``open_key`` refuses if the pod has an open
        record after all. Creates and updates go in one unordered bulk write (ids from
        :class:`~kubeward.core.id_blocks.IdBlocks`). The reports whose write did not apply
        (the pod had an open record unknown here, a remembered one had changed, a
        redelivery) are stored again with their open records read: ``existing``.

        With ``existing`` (the pods' open records as :meth:`open_records` reads them), each
        report updates its pod's record or creates one, and the updated records are read
        back; a report whose write did not apply (its record resolved meanwhile, another
        replica created the pod's record first, an id already taken) goes through
        :meth:`record` on its own.

        Redelivered reports come back ``DUPLICATE``, as from :meth:`record`. Outcomes are in
        the order of ``items``.
        """
        keys = [open_key(i.envelope.report.namespace, i.envelope.report.pod_name) for i in items]
        if len(set(keys)) != len(keys):
            raise ValueError("record_many takes one report per pod")
        careful = existing is not None
        known: Mapping[str, Document] = (
            existing
            if existing is not None
            else {key: doc for key in keys if (doc := self._open.get(key)) is not None}
        )
        ids = iter(await self._ids.take(sum(1 for key in keys if key not in known)))
        outcomes: list[tuple[Outcome, Document] | None] = [None] * len(items)
        again: list[int] = []
        """Reports to store again, the careful way."""
        ops: list[InsertOne[Document] | UpdateOne] = []
        planned: list[tuple[int, Document]] = []
        """Per op, its item and the record it should leave."""
        for index, (item, key) in enumerate(zip(items, keys, strict=True)):
            envelope = item.envelope
            fields = _fields(envelope.report, item.logs_captured)
            old = known.get(key)
            if old is None:
                doc = _new_record(next(ids), envelope, fields, item.solution, item.logs_captured)
                ops.append(InsertOne(doc))
                planned.append((index, doc))
            elif _tag(envelope) in old.get("applied", []):
                if careful:
                    outcomes[index] = (Outcome.DUPLICATE, old)
                else:
                    again.append(index)  # the answer needs the whole record
            else:
                update = _repeat_update(old, envelope, fields, item.solution)
                query = {"_id": old["_id"], "open_key": key}
                if not careful:
                    query["rev"] = old["rev"]
                ops.append(UpdateOne(query, update))
                planned.append((index, _apply(old, update)))
        failed: set[int] = set()
        current: dict[str, Document] = {}
        """Open records read back after a conditional update missed (what they are now)."""
        matched = 0
        if ops:
            try:
                matched = (await self._col.bulk_write(ops, ordered=False)).matched_count
            except BulkWriteError as exc:
                failed = {planned[error["index"]][0] for error in exc.details["writeErrors"]}
                matched = int(exc.details.get("nMatched", 0))
        updates = [n for n, op in enumerate(ops) if isinstance(op, UpdateOne)]
        for n, (index, doc) in enumerate(planned):
            if isinstance(ops[n], InsertOne) and index not in failed:
                outcomes[index] = (Outcome.CREATED, doc)
        if updates and (careful or matched < len(updates)):
            read = [planned[n][1]["_id"] for n in updates]
            after = {doc["_id"]: doc async for doc in mongo.find_in(self._col, "_id", read)}
            for n in updates:
                index, doc = planned[n]
                stored = after.get(doc["_id"])
                tag = _tag(items[index].envelope)
                if (
                    stored is not None
                    and tag in stored.get("applied", [])
                    and (careful or stored.get("rev") == doc["rev"])
                ):
                    outcomes[index] = (Outcome.UPDATED, stored)
                    continue
                failed.add(index)  # resolved, deleted or changed meanwhile: not applied
                if stored is not None and stored.get("open_key") == keys[index]:
                    current[keys[index]] = stored
        else:
            for n in updates:
                index, doc = planned[n]
                outcomes[index] = (Outcome.UPDATED, doc)
        if careful:
            for index in sorted(failed):
                item = items[index]
                outcomes[index] = await self.record(
                    item.envelope, item.solution, logs_captured=item.logs_captured
                )
        else:
            again = sorted([*again, *failed])
            if again:
                redo = [items[i] for i in again]
                unread = [
                    (i.envelope.report.namespace, i.envelope.report.pod_name)
                    for i, key in zip(redo, (keys[i] for i in again), strict=True)
                    if key not in current
                ]
                if unread:
                    current |= await self.open_records(unread)
                redone = await self.record_many(redo, current)
                for index, outcome in zip(again, redone, strict=True):
                    outcomes[index] = outcome
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(items)
        for _, doc in done:
            self._open.remember(doc)
        return done

    async def set_solution(
        self, record_id: int, solution: Solution, report_seq: int | None = None
    ) -> Document | None:
        """Store a new solution; with ``report_seq``, only if no newer report arrived."""
        query: Document = {"_id": record_id}
        if report_seq is not None:
            query["report_seq"] = report_seq
        return await self._update(query, {"$set": _solution_fields(solution)})

    async def set_status(
        self,
        record_id: int,
        status: FailureStatus,
        allowed_from: frozenset[str],
        extra: Document | None = None,
    ) -> StatusChange:
        """Move a record to ``status`` if its current status is in ``allowed_from``, also
        setting ``extra`` fields.

        Races are settled by a conditional update on the status read; a record in the
        target status already is returned unchanged.
        """
        for _ in range(5):
            doc = await self._col.find_one({"_id": record_id})
            if doc is None:
                return StatusChange(before=None, doc=None)
            before = doc["status"]
            if before == status or before not in allowed_from:
                return StatusChange(before=before, doc=doc)
            now = utcnow()
            update: Document = {
                "$set": {
                    "status": status,
                    "status_changed_at": now,
                    "dismissed": status in ("resolved", "ignored"),
                    **(extra or {}),
                }
            }
            if status == "resolved":
                update["$set"]["resolved_at"] = now
                update["$unset"] = {"open_key": ""}
            after = await self._update({"_id": record_id, "status": before}, update)
            if after is not None:
                return StatusChange(before=before, doc=after)
        raise RuntimeError(f"status of pod failure {record_id} keeps changing under us")

    async def resolve_pod(self, namespace: str, pod_name: str) -> Document | None:
        """Resolve the pod's open record, if it has one (the pod was deleted)."""
        key = open_key(namespace, pod_name)
        existing = await self._col.find_one({"open_key": key}, {"_id": 1})
        if existing is None:
            return None
        now = utcnow()
        return await self._update(
            {"_id": existing["_id"], "open_key": key},
            {
                "$set": {
                    "status": "resolved",
                    "dismissed": True,
                    "resolved_at": now,
                    "status_changed_at": now,
                },
                "$unset": {"open_key": ""},
            },
        )

    async def delete_record(self, record_id: int) -> tuple[Document | None, bool]:
        """Delete a resolved or ignored record and its logs: the record as it was, and
        whether it went (``False``: it is in another status)."""
        doc = await self._col.find_one({"_id": record_id})
        if doc is None or doc.get("status") not in KURE_DELETABLE:
            return doc, False
        self._open.forget(open_key(doc["namespace"], doc["pod_name"]), record_id)
        result = await self._col.delete_one(
            {"_id": record_id, "status": {"$in": list(KURE_DELETABLE)}}
        )
        await self._logs.delete_one({"_id": record_id})
        return doc, result.deleted_count == 1

    async def latest_of_pod(self, namespace: str, pod_name: str) -> Document | None:
        """The pod's latest record: its open one (one indexed lookup), else its newest.

        The second lookup walks id windows of the ``(namespace, pod_name, _id)`` index down
        from the newest id until one holds a record of the pod: it reads the pod's records
        in that window, not all of them (a ``sort`` + ``limit`` reads and sorts every match
        on SecantusDB: a pod that failed thousands of times in the retention would cost
        thousands of rows), nor the collection.
        """
        doc = await self._col.find_one({"open_key": open_key(namespace, pod_name)})
        if doc is not None:
            return doc
        pod = {"namespace": namespace, "pod_name": pod_name}

        async def fetch(lo: int, hi: int) -> list[Document]:
            return await self._col.find({**pod, "_id": {"$gt": lo, "$lte": hi}}).to_list()

        walk = await walk_down(
            fetch,
            top=await self._last_id(),
            floor=0,
            need=1,
            order=_by_id,
            first_width=LATEST_FIRST_WINDOW,
        )
        return walk.rows[0] if walk.rows else None

    async def save_logs(self, record_id: int, logs: CleanLogs) -> CleanLogs:
        """Merge a report's cleaned crash logs into the record's (idempotent); what is kept."""
        old = await self.get_logs(record_id)
        merged = merge(old, logs)
        body = msgspec.to_builtins(merged, builtin_types=(bytes,))
        await self._logs.replace_one({"_id": record_id}, {"_id": record_id, **body}, upsert=True)
        return merged

    async def save_logs_many(
        self, logs: Mapping[int, CleanLogs], created: Collection[int] = ()
    ) -> None:
        """:meth:`save_logs` for several records (record id to its report's logs) in two
        round trips: one read of their stored logs, one unordered bulk write. Records in
        ``created`` were just created by this process and hold no logs yet (not read)."""
        if not logs:
            return
        older = [record_id for record_id in logs if record_id not in created]
        stored = {doc.pop("_id"): doc async for doc in mongo.find_in(self._logs, "_id", older)}
        ops = []
        for record_id, new in logs.items():
            old = stored.get(record_id)
            merged = merge(
                None if old is None else msgspec.convert(old, CleanLogs, builtin_types=(bytes,)),
                new,
            )
            body = msgspec.to_builtins(merged, builtin_types=(bytes,))
            ops.append(ReplaceOne({"_id": record_id}, {"_id": record_id, **body}, upsert=True))
        await self._logs.bulk_write(ops, ordered=False)

    async def get_logs(self, record_id: int) -> CleanLogs | None:
        """The record's cleaned crash logs, if any were stored."""
        doc = await self._logs.find_one({"_id": record_id})
        if doc is None:
            return None
        doc.pop("_id", None)
        return msgspec.convert(doc, CleanLogs, builtin_types=(bytes,))

    async def full_report(self, doc: Mapping[str, Any]) -> PodFailureReport:
        """The latest report a record holds, with its stored crash logs."""
        report = report_of(doc)
        if not doc.get("logs_captured"):
            return report
        return with_logs(report, await self.get_logs(doc["_id"]))

    async def set_troubleshoot(self, record_id: int, solution: str) -> Document | None:
        """Store a log-aware solution on the record (Kure's ``log_aware_solution``)."""
        return await self._update(
            {"_id": record_id},
            {"$set": {"log_aware_solution": solution, "log_aware_solution_generated_at": utcnow()}},
        )

    async def query(
        self,
        query: FailureQuery,
        max_page: int,
        *,
        slice_rows: int | None = None,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[list[Document], int | None]:
        """One page of a view, newest first, and the id to continue from (``None``: last).

        Read as id windows per status of the view (and the namespace), each a bounded range
        of an index on ``(status, [namespace,] _id)``, walked down from the newest id
        (:func:`kubeward.core.windows.walk_down`; ``slice_rows`` and ``between`` as there):
        O(page) at any collection size. Ids come from a counter, so it bounds the newest.
        """
        limit = max(1, min(query.limit, max_page))
        below = await self._last_id() + 1
        if query.cursor:
            below = min(below, int(query.cursor))
        prefixes: list[Document] = [
            {"status": status, **({"namespace": query.namespace} if query.namespace else {})}
            for status in _VIEWS[query.view]
        ]

        async def fetch(lo: int, hi: int) -> list[Document]:
            window = {"$gt": lo, "$lte": hi}
            docs: list[Document] = []
            for prefix in prefixes:
                docs += await self._col.find({**prefix, "_id": window}).to_list()
            return docs

        hint = (query.view, query.namespace)
        walk = await walk_down(
            fetch,
            top=below - 1,
            floor=0,
            need=limit + 1,
            order=_by_id,
            density=self._densities.get(hint, 0.0),
            first_width=limit + 1 if slice_rows is None else min(limit + 1, slice_rows),
            slice_rows=slice_rows,
            between=between,
        )
        if len(self._densities) >= DENSITY_MEMORY:
            self._densities.clear()
        if walk.density:
            self._densities[hint] = walk.density
        docs = walk.rows
        if len(docs) > limit:
            return docs[:limit], docs[limit - 1]["_id"]
        return docs, None

    async def _last_id(self) -> int:
        """The highest id given out so far (0: none): one indexed lookup of the counter."""
        doc = await self._counters.find_one({"_id": COLLECTION})
        return 0 if doc is None else int(doc["seq"])

    async def sweep(self, status: FailureStatus, older_than: timedelta, batch: int) -> int:
        """Delete records in ``status`` whose status is older than ``older_than``, ``batch``
        at a time; returns how many went.

        Reads windows of ``status_changed_at`` bounded on both sides (a one-sided range
        reads every match on SecantusDB, whatever the limit), walking from where the last
        sweep of this store stopped (less :data:`SWEEP_OVERLAP`, for clocks of other
        replicas) up to the cutoff; a window's width adapts to hold about ``batch``
        records. Every record read is deleted, so a sweep costs O(records deleted).
        """
        cutoff = utcnow() - older_than
        lo = max(SWEEP_ORIGIN, self._swept.get(status, SWEEP_ORIGIN) - SWEEP_OVERLAP)
        width = SWEEP_FIRST_WINDOW
        deleted = 0
        while lo < cutoff:
            hi = min(lo + width, cutoff)
            window = {"$gte": lo, "$lt": hi}
            ids = [
                d["_id"]
                async for d in self._col.find(
                    {"status": status, "status_changed_at": window}, {"_id": 1}
                )
            ]
            for start in range(0, len(ids), batch):
                deleted += await self._delete_swept(status, ids[start : start + batch])
            lo = hi
            if not ids:
                width *= 4
            elif len(ids) < batch:
                width *= 2
            elif len(ids) > 2 * batch:
                width = max(timedelta(seconds=1), width * batch / len(ids))
        self._swept[status] = cutoff
        return deleted

    async def _delete_swept(self, status: FailureStatus, ids: list[int]) -> int:
        """Delete the records ``ids`` still in ``status``, and the logs of those that went
        (one restored meanwhile keeps its logs)."""
        result = await self._col.delete_many({"_id": {"$in": ids}, "status": status})
        if result.deleted_count == len(ids):
            gone = ids
        else:
            kept = {d["_id"] async for d in self._col.find({"_id": {"$in": ids}}, {"_id": 1})}
            gone = [i for i in ids if i not in kept]
        if gone:
            await self._logs.delete_many({"_id": {"$in": gone}})
        return result.deleted_count


def _solution_fields(solution: Solution) -> Document:
    return {
        "solution": solution.text,
        "solution_source": solution.source,
        "analyzer": solution.analyzer,
        "llm_error": solution.error,
    }


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    """One report to store with :meth:`FailureStore.record_many`."""

    envelope: FailureReportEnvelope
    solution: Solution
    logs_captured: bool = False


def _tag(envelope: FailureReportEnvelope) -> str:
    """What a record remembers of a report it absorbed (``<collect seq>:<index>``)."""
    return f"{envelope.origin_seq}:{envelope.index}"


def _seen(envelope: FailureReportEnvelope) -> datetime:
    """When the report reached ``COLLECT``, to the millisecond (what MongoDB keeps: a record
    built in memory is the record stored)."""
    return EPOCH + timedelta(milliseconds=envelope.origin_us // 1000)


def _fields(report: PodFailureReport, logs_captured: bool) -> Document:
    """The report's fields as a record stores them."""
    fields = {name: _to_builtins(getattr(report, name)) for name in _STORED_FIELDS}
    if logs_captured:
        fields["logs_captured"] = True
    return fields


def _repeat_update(
    existing: Document, envelope: FailureReportEnvelope, fields: Document, solution: Solution
) -> Document:
    """The update a repeat report applies to the pod's open record ``existing``."""
    keep_llm = existing.get("solution_source") == "llm" and existing.get("failure_reason") == (
        envelope.report.failure_reason or "Unknown"
    )
    return {
        "$set": {
            **fields,
            "last_seen": max(_seen(envelope), existing["last_seen"]),
            "report_seq": envelope.origin_seq,
            **({} if keep_llm else _solution_fields(solution)),
        },
        "$inc": {"report_count": 1, "rev": 1},
        "$push": {"applied": {"$each": [_tag(envelope)], "$slice": -APPLIED_MEMORY}},
        "$unset": {"failure_logs": ""},
    }


def _apply(old: Document, update: Document) -> Document:
    """``old`` as the database leaves it after ``update`` (a :func:`_repeat_update`)."""
    doc = {**old, **update.get("$set", {})}
    for name in update.get("$unset", {}):
        doc.pop(name, None)
    for name, step in update.get("$inc", {}).items():
        doc[name] = doc.get(name, 0) + step
    for name, push in update.get("$push", {}).items():
        doc[name] = [*doc.get(name, []), *push["$each"]][push["$slice"] :]
    return doc


def _new_record(
    record_id: int,
    envelope: FailureReportEnvelope,
    fields: Document,
    solution: Solution,
    logs_captured: bool,
) -> Document:
    """The record a pod's first report (since its last resolved one) creates."""
    report = envelope.report
    seen = _seen(envelope)
    return {
        "_id": record_id,
        "open_key": open_key(report.namespace, report.pod_name),
        "pod_name": report.pod_name,
        "namespace": report.namespace,
        **fields,
        **_solution_fields(solution),
        "first_seen": seen,
        "last_seen": seen,
        "report_count": 1,
        "report_seq": envelope.origin_seq,
        "applied": [_tag(envelope)],
        "status": "new",
        "dismissed": False,
        "resolved_at": None,
        "status_changed_at": seen,
        "logs_captured": logs_captured,
        "rev": 0,
    }


def _by_id(doc: Document) -> int:
    return int(doc["_id"])
