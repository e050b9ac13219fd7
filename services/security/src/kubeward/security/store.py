"""Findings, scanned manifests and trusted registries in MongoDB (owned by security).

- ``security_findings``: one record per finding key (resource, check, part of the
  resource; :func:`~kubeward.schemas.security.finding_key`), integer ids as in Kure. A
  repeat report updates the record; a dismissal survives repeats.
- ``security_manifests``: the latest manifest of each scanned resource (as JSON text, so
  annotation keys with dots are stored as they are), for rescans and AI fixes.
- ``security_rule_titles``: which finding titles (and so which namespaces) have been
  seen, one small document per (namespace, title) and per title, for the admin's
  suggestions (``/api/admin/rule-titles``, ``/api/admin/namespaces``) without scanning
  the findings.
- ``counters`` (shared with nothing else in this database's owner): the id counter.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from async_lru import alru_cache
from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from kubeward.core import facets, mongo
from kubeward.core.mongo import Document
from kubeward.core.windows import matcher, walk_down
from kubeward.schemas.security import FINDING_FACETS, FindingQuery, SecurityFinding
from kubeward.security.admin_settings import rule_base

FINDINGS = "security_findings"
MANIFESTS = "security_manifests"
COUNTERS = "security_counters"
TITLES = "security_rule_titles"
SHARED_TTL_SECONDS = 5.0
"""How old the NetworkPolicy namespaces a scan uses may be: every failed pod's scan asked
MongoDB; a NetworkPolicy stored or deleted by another replica counts within this time."""
SEEN_RESOLUTION_SECONDS = 60.0
"""How stale a finding's ``last_seen`` may be: a scan that raises a finding again with the
same fields rewrites it only when its ``last_seen`` is older than this (on SecantusDB an
update costs 1-2 ms whatever it changes, and failed pods are scanned on every report)."""
LIST_PROJECTION = {"manifest": 0, "rule_keys": 0, facets.FIELD: 0}
"""What a list does not need: the scanner's manifest text (large) and the match keys."""
FACETS_MARKER = "facets"
"""The marker (in the counters) that findings stored before facets got theirs."""
_SUPERSEDED_INDEXES = ("rule_keys_1_namespace_1",)
"""The index the facet index replaced (the rule keys are facets)."""


def rule_keys(title: str, check: str) -> list[str]:
    """The names a rule exclusion may use for a finding: its title, the title's base
    (``Privileged container`` of ``Privileged container: app``) and its check id."""
    return list(dict.fromkeys((title, rule_base(title), check)))


def utcnow() -> datetime:
    """Now, naive UTC with millisecond precision (what MongoDB keeps)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: datetime) -> str:
    """A stored time as RFC 3339 UTC."""
    return value.isoformat(timespec="milliseconds") + "Z"


_INTERNAL = ("_id", "key", "first_seen", "last_seen", "created_by", "digest", facets.FIELD)
"""Stored fields the API does not show (``created_by``: see :meth:`FindingStore.upsert`;
``digest``: :func:`digest_of`)."""


def digest_of(fields: Mapping[str, Any]) -> str:
    """A short digest of a finding's scanner fields, stored beside them, so a rescan can
    tell an unchanged finding from the stored key alone."""
    encoded = msgspec.json.encode(fields, order="deterministic")
    return hashlib.blake2b(encoded, digest_size=12).hexdigest()


def facets_of(fields: Mapping[str, Any]) -> list[str]:
    """The facets a finding with these scanner fields is listed and purged by (see
    :mod:`kubeward.core.facets`)."""
    return facets.facets_of(fields, FINDING_FACETS, with_all=False)


def _derived(fields: Mapping[str, Any], digest: str | None = None) -> Document:
    """What a finding stores beside its scanner fields, computed from them (``digest``:
    :func:`digest_of` of them, when the caller has it already)."""
    return {"digest": digest or digest_of(fields), facets.FIELD: facets_of(fields)}


def to_api(doc: Mapping[str, Any]) -> SecurityFinding:
    """A stored finding as the API returns it."""
    fields = {k: v for k, v in doc.items() if k not in _INTERNAL}
    return msgspec.convert(
        {
            **fields,
            "id": doc["_id"],
            "first_seen": iso(doc["first_seen"]),
            "last_seen": iso(doc["last_seen"]),
            "timestamp": doc.get("timestamp") or iso(doc["first_seen"]),
        },
        SecurityFinding,
    )


def _by_id(doc: Document) -> int:
    finding_id: int = doc["_id"]
    return finding_id


def resource_id(kind: str, namespace: str, name: str) -> str:
    """The key of a scanned resource."""
    return f"{kind}/{namespace}/{name}"


class Scanned(NamedTuple):
    """One resource's scan: its built-in findings as (key, fields), and the bus message
    and position it came from (see :meth:`FindingStore.upsert`)."""

    kind: str
    namespace: str
    name: str
    findings: list[tuple[str, Document]]
    created_by: str | None = None


class FindingStore:
    """Reads and writes of findings and scanned manifests."""

    def __init__(
        self, db: AsyncDatabase[Document], seen_resolution: float = SEEN_RESOLUTION_SECONDS
    ) -> None:
        self._seen_resolution = timedelta(seconds=seen_resolution)
        self._col: AsyncCollection[Document] = db[FINDINGS]
        self._manifests: AsyncCollection[Document] = db[MANIFESTS]
        self._counters: AsyncCollection[Document] = db[COUNTERS]
        self._titles: AsyncCollection[Document] = db[TITLES]
        self._seen_titles: set[tuple[str, str]] = set()
        self._density: dict[tuple[object, ...], float] = {}
        """Per filter shape, the matches per id the last listing saw (sizes its windows)."""

    async def ensure_indexes(self) -> None:
        """Create the indexes the service relies on (idempotent)."""
        await self._col.create_index("key", unique=True)
        await self._col.create_index([("dismissed", ASCENDING), ("_id", DESCENDING)])
        await self._col.create_index(
            [("dismissed", ASCENDING), (facets.FIELD, ASCENDING), ("_id", DESCENDING)]
        )
        await self._col.create_index(
            [("resource_type", ASCENDING), ("namespace", ASCENDING), ("resource_name", ASCENDING)]
        )
        await facets.backfill(
            self._col, self._counters, FACETS_MARKER, facets_of, dict.fromkeys(FINDING_FACETS, 1)
        )
        await facets.drop_indexes(self._col, _SUPERSEDED_INDEXES)
        await self._titles.create_index([("title", ASCENDING), ("namespace", ASCENDING)])
        await self._titles.create_index([("namespace", ASCENDING), ("title", ASCENDING)])
        await self._manifests.create_index("kind")
        await mongo.ensure_counter(self._counters, FINDINGS)

    async def get(self, finding_id: int) -> Document | None:
        """One finding by id."""
        return await self._col.find_one({"_id": finding_id})

    async def upsert(
        self, key: str, fields: Document, created_by: str | None = None
    ) -> tuple[Document, bool]:
        """Store a finding: update the record with ``key`` or create one. Returns the record
        and whether it is new. ``dismissed`` of an existing record is kept.

        ``created_by`` (the bus message and position the finding came from) is kept on a
        record this call creates: a redelivery of that message after a crash between the
        write and the feed event finds the record not new, and announces it again when it
        is its own (see :func:`announce_again`).
        """
        now = utcnow()
        while True:
            existing = await self._col.find_one({"key": key}, {"_id": 1})
            if existing is not None:
                await self._col.update_one(
                    {"_id": existing["_id"]},
                    {"$set": {**fields, **_derived(fields), "last_seen": now}},
                )
                doc = await self._col.find_one({"_id": existing["_id"]})
                if doc is not None:
                    return doc, False
                continue  # deleted meanwhile: create it again
            doc = {
                "_id": await mongo.next_id(self._counters, FINDINGS),
                "key": key,
                **fields,
                **_derived(fields),
                "first_seen": now,
                "last_seen": now,
                "dismissed": False,
            }
            if created_by is not None:
                doc["created_by"] = created_by
            try:
                await self._col.insert_one(doc)
            except DuplicateKeyError:
                continue  # another replica stored it first: update that one
            return doc, True

    async def replace_builtin(
        self,
        kind: str,
        namespace: str,
        name: str,
        findings: list[tuple[str, Document]],
        created_by: str | None = None,
    ) -> list[Document]:
        """:meth:`replace_builtin_many` for one resource."""
        [created] = await self.replace_builtin_many(
            [Scanned(kind, namespace, name, findings, created_by)]
        )
        return created

    async def replace_builtin_many(self, scanned: Sequence[Scanned]) -> list[list[Document]]:
        """Make the built-in scanner's findings about each resource exactly its
        ``findings`` (key, fields): update those already stored, insert the others, delete
        the ones a new scan no longer raised (a finding raised again unchanged is rewritten
        only when its ``last_seen`` is older than the store's ``seen_resolution``). Returns,
        per resource, the new records and those an earlier try of the same scan
        (``created_by``, as in :meth:`upsert`) created: a crash may have kept their feed
        events from going out.

        A few round trips for the whole batch, whatever its resources and findings: the
        stored findings are read by the indexed resource fields, one read per kind and
        namespace (``resource_name`` in a list; with ``source``, a ``$nin`` or a list of
        namespaces in a filter SecantusDB scans the whole collection), ids are reserved in
        one go, new records inserted together and the rest updated in one bulk write.
        """
        now = utcnow()
        seen_since = now - self._seen_resolution
        existing = await self._stored_findings(scanned)
        fresh: list[tuple[int, str, Document]] = []  # (resource index, key, fields)
        updates: list[UpdateOne] = []
        stale: list[Any] = []
        earlier: list[Any] = []
        for index, item in enumerate(scanned):
            stored = existing.get((item.kind, item.namespace, item.name), {})
            wanted = dict(item.findings)
            stale += [
                doc["_id"]
                for key, doc in stored.items()
                if doc.get("source") == "builtin" and key not in wanted
            ]
            for key, fields in wanted.items():
                if key not in stored:
                    fresh.append((index, key, fields))
                    continue
                old, digest = stored[key], digest_of(fields)
                if old.get("digest") != digest or old["last_seen"] < seen_since:
                    updates.append(
                        UpdateOne(
                            {"_id": old["_id"]},
                            {"$set": {**fields, **_derived(fields, digest), "last_seen": now}},
                        )
                    )
                if announce_again(old, item.created_by):
                    earlier.append(old["_id"])
        created: list[list[Document]] = [[] for _ in scanned]
        if fresh:
            ids = await mongo.reserve_ids(self._counters, FINDINGS, len(fresh))
            docs = [
                {
                    "_id": i,
                    "key": key,
                    **fields,
                    **_derived(fields),
                    "first_seen": now,
                    "last_seen": now,
                    "dismissed": False,
                }
                | ({} if (by := scanned[index].created_by) is None else {"created_by": by})
                for i, (index, key, fields) in zip(ids, fresh, strict=True)
            ]
            # Another replica may have stored some of them first: those become updates.
            failed = await mongo.insert_new(self._col, docs)
            for n, ((index, key, fields), doc) in enumerate(zip(fresh, docs, strict=True)):
                if n in failed:
                    await self.upsert(key, fields)
                else:
                    created[index].append(doc)
        if updates:
            await self._col.bulk_write(updates, ordered=False)
        for chunk in mongo.chunks(stale):
            await self._col.delete_many({"_id": {"$in": chunk}})
        if earlier:  # a handful at most: findings of resources this message scanned before
            again = {doc["_id"]: doc async for doc in mongo.find_in(self._col, "_id", earlier)}
            for index, item in enumerate(scanned):
                stored = existing.get((item.kind, item.namespace, item.name), {})
                created[index] += [
                    again[doc["_id"]]
                    for key, doc in stored.items()
                    if doc["_id"] in again and key in dict(item.findings)
                ]
        return created

    async def _stored_findings(
        self, scanned: Sequence[Scanned]
    ) -> dict[tuple[str, str, str], dict[str, Document]]:
        """The stored findings of ``scanned``'s resources: resource -> key -> record (its
        ``_id``, ``key``, ``source``, ``created_by``, ``digest`` and ``last_seen``)."""
        names: dict[tuple[str, str], set[str]] = {}
        for item in scanned:
            names.setdefault((item.kind, item.namespace), set()).add(item.name)
        found: dict[tuple[str, str, str], dict[str, Document]] = {}
        projection = {
            "_id": 1,
            "key": 1,
            "source": 1,
            "created_by": 1,
            "resource_name": 1,
            "digest": 1,
            "last_seen": 1,
        }
        for (kind, namespace), wanted in names.items():
            where = {"resource_type": kind, "namespace": namespace}
            async for doc in mongo.find_in(
                self._col, "resource_name", sorted(wanted), projection, where
            ):
                resource = (kind, namespace, str(doc["resource_name"]))
                found.setdefault(resource, {})[doc["key"]] = doc
        return found

    async def set_dismissed(self, finding_id: int, dismissed: bool) -> Document | None:
        """Dismiss or restore a finding; ``None`` for an unknown id."""
        result = await self._col.update_one({"_id": finding_id}, {"$set": {"dismissed": dismissed}})
        if result.matched_count == 0:
            return None
        return await self._col.find_one({"_id": finding_id})

    async def clear(self, source: str = "scanner") -> int:
        """Delete every finding of ``source`` (the scanner starts a full scan over)."""
        return (await self._col.delete_many({"source": source})).deleted_count

    async def delete_resource(self, kind: str, namespace: str, name: str) -> int:
        """Delete every finding and the stored manifest of a resource that is gone."""
        await self._manifests.delete_one({"_id": resource_id(kind, namespace, name)})
        if kind == "NetworkPolicy":
            self._network_policy_namespaces.cache_clear()
        result = await self._col.delete_many(
            {"resource_type": kind, "namespace": namespace, "resource_name": name}
        )
        return result.deleted_count

    async def query(
        self,
        query: FindingQuery,
        max_page: int,
        *,
        slice_rows: int | None = None,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[list[Document], int | None]:
        """One page of findings matching the filters, newest (highest id) first
        (``slice_rows`` and ``between`` as for :func:`~kubeward.core.windows.walk_down`).

        Read as bounded windows of ids (see :mod:`kubeward.core.windows`) on the
        ``(dismissed, _id)`` index, or of ``(dismissed, facets, _id)`` under the facet of the
        most selective filter given (:data:`~kubeward.schemas.security.FINDING_FACETS`),
        one query per ``dismissed`` value asked for (a range on ``_id`` alone or an ``$in``
        makes SecantusDB scan), from the last id given out down: O(page + the rows that
        facet holds and the other filters skip), never O(collection). The other filters are
        applied to each window here (with one more field in the filter SecantusDB scans).
        """
        limit = max(1, min(query.limit, max_page))
        residual: Document = {}
        for field, value in (
            ("severity", query.severity),
            ("namespace", query.namespace),
            ("resource_type", query.resource_type),
            ("resource_name", query.resource_name),
            ("check_name", query.check),
        ):
            if value is not None:
                residual[field] = value
        states = [False, True] if query.dismissed is None else [query.dismissed]
        counter = await self._counters.find_one({"_id": FINDINGS})
        top = int(counter["seq"]) if counter is not None else 0
        if query.cursor:
            top = min(top, int(query.cursor) - 1)

        matches = matcher(residual)
        field, wanted = facets.pick(residual, FINDING_FACETS)
        under: list[Document] = (
            [{}] if field == facets.ALL else [{facets.FIELD: value} for value in wanted]
        )

        async def fetch(lo: int, hi: int) -> list[Document]:
            docs: list[Document] = []
            for state in states:
                for facet in under:
                    find = {"dismissed": state, **facet, "_id": {"$gt": lo, "$lte": hi}}
                    found = await self._col.find(find, LIST_PROJECTION).to_list()
                    docs += [d for d in found if matches(d)]
            return docs

        shape = (query.dismissed, *sorted(residual), *wanted)
        walk = await walk_down(
            fetch,
            top=top,
            floor=0,
            need=limit + 1,
            order=_by_id,
            density=self._density.get(shape, 0.0),
            first_width=limit + 1 if slice_rows is None else min(limit + 1, slice_rows),
            slice_rows=slice_rows,
            between=between,
        )
        if walk.density:
            self._density[shape] = walk.density
        docs = walk.rows
        if len(docs) > limit:
            return docs[:limit], docs[limit - 1]["_id"]
        return docs, None

    async def purge_rule(self, rule_title: str, namespace: str = "") -> int:
        """Delete the findings a rule exclusion suppresses (by title, base title or check
        id; in ``namespace`` or everywhere when empty): read by the rule key's facet, one
        indexed read per ``dismissed`` value, then deleted by id."""
        rule = facets.facet("rule_keys", rule_title)
        doomed: list[Any] = []
        for state in (False, True):
            # The namespace is matched here: one more field in the filter makes SecantusDB scan.
            found = self._col.find({"dismissed": state, facets.FIELD: rule}, {"namespace": 1})
            doomed += [
                d["_id"] async for d in found if not namespace or d.get("namespace") == namespace
            ]
        deleted = 0
        for chunk in mongo.chunks(doomed):
            deleted += (await self._col.delete_many({"_id": {"$in": chunk}})).deleted_count
        return deleted

    # --- Titles seen (admin suggestions) -------------------------------------------

    async def register_titles(self, seen: set[tuple[str, str]]) -> None:
        """Remember (namespace, title) pairs of new findings; once per process and pair."""
        fresh = seen - self._seen_titles
        if not fresh:
            return
        ops = []
        for namespace, title in fresh:
            for ns, t in ((namespace, title), ("", title), (namespace, "")):
                ops.append(
                    UpdateOne(
                        {"_id": f"{ns}\n{t}"},
                        {"$setOnInsert": {"namespace": ns, "title": t}},
                        upsert=True,
                    )
                )
        # A concurrent upsert of the same pair fails here: the pair is stored either way.
        with contextlib.suppress(BulkWriteError):
            await self._titles.bulk_write(ops, ordered=False)
        self._seen_titles |= fresh

    async def titles(self, namespace: str | None) -> list[str]:
        """Titles seen in ``namespace`` (every namespace when ``None``)."""
        ns = namespace or ""
        docs = self._titles.find({"namespace": ns, "title": {"$gt": ""}}, {"title": 1})
        return [doc["title"] async for doc in docs]

    async def namespaces(self) -> list[str]:
        """Namespaces findings have been raised in."""
        docs = self._titles.find({"title": "", "namespace": {"$gt": ""}}, {"namespace": 1})
        return [doc["namespace"] async for doc in docs]

    # --- Manifests -----------------------------------------------------------------

    async def save_manifest(self, obj: Mapping[str, Any], namespace: str) -> None:
        """Keep the latest manifest of a resource (for rescans and fixes)."""
        await self.save_manifests([(obj, namespace)])

    async def save_manifests(self, objects: Sequence[tuple[Mapping[str, Any], str]]) -> None:
        """:meth:`save_manifest` for (object, namespace) pairs (a resource listed twice
        keeps its last), in two round trips: which are stored and as what (a digest of
        the JSON), then one unordered bulk write. A new resource is inserted, a changed one
        replaced, an unchanged one (a failed pod reported again) not written: on SecantusDB
        an upsert costs an update, several times an insert."""
        latest: dict[str, tuple[Mapping[str, Any], str, str]] = {}
        for obj, namespace in objects:
            text = msgspec.json.encode(obj).decode()
            key = resource_id(obj["kind"], namespace, obj["metadata"]["name"])
            latest.pop(key, None)
            latest[key] = (obj, namespace, text)
        if not latest:
            return
        stored = await self._manifest_digests(list(latest))
        now = utcnow()
        fresh: list[Document] = []
        replaces: list[ReplaceOne[Document]] = []
        for key, (obj, namespace, text) in latest.items():
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            if key in stored and stored[key] == digest:
                continue
            doc = {
                "kind": obj["kind"],
                "namespace": namespace,
                "name": obj["metadata"]["name"],
                "json": text,
                "digest": digest,
                "updated_at": now,
            }
            if key in stored:
                replaces.append(ReplaceOne({"_id": key}, doc, upsert=True))
            else:
                fresh.append({"_id": key, **doc})
        # Another replica may have stored some first: those are replaced.
        for index in sorted(await mongo.insert_new(self._manifests, fresh)):
            doc = dict(fresh[index])
            replaces.append(ReplaceOne({"_id": doc.pop("_id")}, doc, upsert=True))
        if replaces:
            await self._manifests.bulk_write(replaces, ordered=False)
        if any(obj["kind"] == "NetworkPolicy" for obj, _ in objects):
            self._network_policy_namespaces.cache_clear()

    async def _manifest_digests(self, keys: list[str]) -> dict[str, str | None]:
        """The stored manifests among ``keys``: key -> digest (``None`` for one stored
        before digests were kept)."""
        found: dict[str, str | None] = {}
        async for doc in mongo.find_in(self._manifests, "_id", keys, {"digest": 1}):
            found[str(doc["_id"])] = doc.get("digest")
        return found

    async def manifest(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored manifest of a resource."""
        doc = await self._manifests.find_one({"_id": resource_id(kind, namespace, name)})
        if doc is None:
            return None
        obj: dict[str, Any] = msgspec.json.decode(doc["json"])
        return obj

    async def manifests(self, batch: int = 500) -> list[list[dict[str, Any]]]:
        """Every stored manifest, in batches (for a rescan)."""
        out: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        async for doc in self._manifests.find({}, {"json": 1}):
            current.append(msgspec.json.decode(doc["json"]))
            if len(current) >= batch:
                out.append(current)
                current = []
        if current:
            out.append(current)
        return out

    async def network_policy_namespaces(self) -> frozenset[str]:
        """Namespaces a stored NetworkPolicy lives in, at most :data:`SHARED_TTL_SECONDS`
        old (every scan asks; a change made through this store is seen at once)."""
        return await self._network_policy_namespaces()

    @alru_cache(maxsize=1, ttl=SHARED_TTL_SECONDS)
    async def _network_policy_namespaces(self) -> frozenset[str]:
        return frozenset(
            [
                doc["namespace"]
                async for doc in self._manifests.find({"kind": "NetworkPolicy"}, {"namespace": 1})
            ]
        )


def announce_again(doc: Mapping[str, Any], created_by: str | None) -> bool:
    """Whether a stored record that was not new was created by ``created_by`` (an earlier
    try of the same message): its feed event goes out again, and the stream's duplicate
    window drops it if the first one got through."""
    return created_by is not None and doc.get("created_by") == created_by
