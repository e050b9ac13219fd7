"""arkyn entities HttpTraffic refers to: traffic sources, domains, pathnames, requests, responses.

Creating a domain or pathname that already exists (same source, value, protocol and port;
same domain and value) returns the stored one, as arkyn documents for domains, so that
collectors can "create" them on every observation without piling up duplicates.

Every document also carries ``ts`` (its creation time, text-sortable) and ``lk``, the list
key ``<parent>|<ts>|<id>`` that arkyn's plural lists page through with one bounded range on
one index; list totals are counters (:mod:`kubeward.traffic_store.http_counters`).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.schemas.http_traffic import (
    PROTOCOLS,
    Domain,
    DomainIn,
    HttpEntityCreate,
    Pathname,
    PathnameIn,
    Request,
    RequestIn,
    Response,
    ResponseIn,
    TrafficSource,
    TrafficSourceIn,
    iso_created_at,
    sort_key,
    uuid7,
)
from kubeward.schemas.replies import Reply, error
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.http_counters import Counters

SOURCES = "http_sources"
DOMAINS = "http_domains"
PATHNAMES = "http_pathnames"
REQUESTS = "http_requests"
RESPONSES = "http_responses"

_NO_ID = {"_id": 0}


def _decode(body: bytes, kind: type[Any], what: str) -> Any:
    """Decode a create body; ``ValueError`` with a message naming the field."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        detail = str(exc).replace("`$.", "`").replace("`$`", "body")
        raise ValueError(f"Invalid {what}: {detail}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"Invalid {what}: malformed JSON: {exc}") from None


def _created(entity: msgspec.Struct) -> Reply:
    return Reply(status=201, body=msgspec.Raw(msgspec.json.encode(entity)))


class HttpEntities:
    """The five entity collections and the checks HttpTraffic writes need."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.sources: AsyncCollection[Document] = db[SOURCES]
        self.domains: AsyncCollection[Document] = db[DOMAINS]
        self.pathnames: AsyncCollection[Document] = db[PATHNAMES]
        self.requests: AsyncCollection[Document] = db[REQUESTS]
        self.responses: AsyncCollection[Document] = db[RESPONSES]
        self.counters = Counters(db)

    async def ensure_indexes(self) -> None:
        """Unique natural keys for domains and pathnames; traffic-domain look-ups; the
        counters' day and slot counts."""
        await self.sources.create_index("trafficDomain")
        await self.domains.create_index(
            [("trafficSourceId", 1), ("value", 1), ("protocol", 1), ("port", 1)], unique=True
        )
        await self.pathnames.create_index([("domainId", 1), ("value", 1)], unique=True)
        for col in (self.sources, self.domains, self.pathnames):
            await col.create_index("lk")
        await self.counters.ensure_indexes()

    async def create(self, req: HttpEntityCreate) -> Reply:
        """Validate and store one entity: 201 with it, 400 naming a field, 404 for a parent."""
        try:
            if req.kind == "traffic-source":
                return await self._source(_decode(req.body, TrafficSourceIn, "traffic source"))
            if req.kind == "domain":
                return await self._domain(req, _decode(req.body, DomainIn, "domain"))
            if req.kind == "pathname":
                return await self._pathname(req, _decode(req.body, PathnameIn, "pathname"))
            if req.kind == "request":
                return await self._request(_decode(req.body, RequestIn, "request"))
            return await self._response(_decode(req.body, ResponseIn, "response"))
        except ValueError as exc:
            return error(400, str(exc))

    async def source_exists(self, source_id: str) -> bool:
        """True when the traffic source is stored."""
        return await self.sources.find_one({"_id": source_id}, {"_id": 1}) is not None

    async def _source(self, body: TrafficSourceIn) -> Reply:
        if body.traffic_domain is not None:
            taken = await self.sources.find_one({"trafficDomain": body.traffic_domain})
            if taken is not None:
                return error(
                    409,
                    f"Traffic domain {body.traffic_domain!r} is already registered "
                    "with another traffic source",
                )
        moment = datetime.now(UTC)
        now = iso_created_at(moment)
        source = TrafficSource(
            id=uuid7(),
            name=body.name,
            traffic_domain=body.traffic_domain,
            created_at=now,
            updated_at=now,
        )
        doc = _document(source, "", moment)
        await self.sources.insert_one(doc)
        await self.counters.add(http_counters.sources(), 1, doc["ts"], doc["ts"])
        return _created(source)

    async def _domain(self, req: HttpEntityCreate, body: DomainIn) -> Reply:
        protocol = body.protocol.upper()
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"Invalid domain: protocol: {body.protocol!r} is not one of HTTP, HTTPS"
            )
        source_id = req.traffic_source_id or ""
        if not await self.source_exists(source_id):
            return error(404, f"Traffic source {source_id} not found")
        domain, _new = await self.ensure_domain(source_id, body.value.lower(), protocol, body.port)
        return _created(domain)

    async def ensure_domain(
        self, source_id: str, value: str, protocol: str, port: int | None
    ) -> tuple[Domain, bool]:
        """The domain with this natural key, created when missing; and whether it is new."""
        natural = {"trafficSourceId": source_id, "value": value, "protocol": protocol, "port": port}
        moment = datetime.now(UTC)
        domain = Domain(
            id=uuid7(),
            value=value,
            protocol=protocol,
            port=port,
            traffic_source_id=source_id,
            created_at=iso_created_at(moment),
        )
        stored, new = await self._insert_or_existing(
            self.domains, natural, _document(domain, source_id, moment)
        )
        if new:
            ts = stored["ts"]
            await self.counters.add(http_counters.domains(source_id), 1, ts, ts)
        return msgspec.convert(stored, Domain), new

    async def _pathname(self, req: HttpEntityCreate, body: PathnameIn) -> Reply:
        source_id = req.traffic_source_id or ""
        domain_id = req.domain_id or body.domain_id or ""
        if body.domain_id is not None and body.domain_id != domain_id:
            raise ValueError("Invalid pathname: domainId: differs from the route's domainId")
        if not await self.source_exists(source_id):
            return error(404, f"Traffic source {source_id} not found")
        found = await self.domains.find_one({"_id": domain_id}, {"trafficSourceId": 1})
        if found is None or found["trafficSourceId"] != source_id:
            return error(404, f"Domain {domain_id} not found in traffic source {source_id}")
        pathname, _new = await self.ensure_pathname(source_id, domain_id, body.value)
        return _created(pathname)

    async def ensure_pathname(
        self, source_id: str, domain_id: str, value: str
    ) -> tuple[Pathname, bool]:
        """The domain's pathname ``value``, created when missing; and whether it is new."""
        moment = datetime.now(UTC)
        pathname = Pathname(
            id=uuid7(),
            value=value,
            traffic_source_id=source_id,
            domain_id=domain_id,
            created_at=iso_created_at(moment),
        )
        natural = {"domainId": domain_id, "value": value}
        stored, new = await self._insert_or_existing(
            self.pathnames, natural, _document(pathname, domain_id, moment)
        )
        if new:
            ts = stored["ts"]
            await self.counters.add(http_counters.pathnames(domain_id), 1, ts, ts)
        return msgspec.convert(stored, Pathname), new

    async def _insert_or_existing(
        self, col: AsyncCollection[Document], natural: dict[str, Any], doc: Document
    ) -> tuple[Document, bool]:
        """Insert ``doc`` unless one with the same natural key exists; the stored one, and
        whether it was inserted now. ``RuntimeError`` when it keeps vanishing."""
        for _attempt in range(3):
            existing = await col.find_one(natural, _NO_ID)
            if existing is not None:
                return existing, False
            try:
                await col.insert_one(doc)
            except DuplicateKeyError:
                continue  # created concurrently: answer with that one
            return doc, True
        raise RuntimeError("The entity was created and removed concurrently; retry")

    async def _request(self, body: RequestIn) -> Reply:
        request = Request(
            id=uuid7(),
            headers=body.headers,
            body=body.body,
            query_params=body.query_params,
            created_at=iso_created_at(datetime.now(UTC)),
        )
        return await self._insert_blob(self.requests, request.id, request)

    async def _response(self, body: ResponseIn) -> Reply:
        response = Response(
            id=uuid7(),
            headers=body.headers,
            body=body.body,
            created_at=iso_created_at(datetime.now(UTC)),
        )
        return await self._insert_blob(self.responses, response.id, response)

    async def _insert_blob(
        self, col: AsyncCollection[Document], entity_id: str, entity: msgspec.Struct
    ) -> Reply:
        """Store captured headers and bodies as one JSON blob: any key survives, even ``$x``."""
        encoded = msgspec.json.encode(entity)
        await col.insert_one({"_id": entity_id, "json": encoded})
        return Reply(status=201, body=msgspec.Raw(encoded))

    async def store_exchange(
        self,
        kind: Literal["request", "response"],
        entity_id: str,
        moment: datetime,
        raw: dict[str, str | None],
    ) -> Document:
        """Store a request or response given as arkyn's JSON texts (``headers``, ``body``,
        ``queryParams``); idempotent by ``entity_id``. The texts are kept as sent (``raw``,
        what the plural routes answer) next to the parsed blob the singular routes use.
        """
        col = self.requests if kind == "request" else self.responses
        headers = _parsed(raw.get("headers"))
        fields: dict[str, Any] = {
            "id": entity_id,
            "headers": headers if isinstance(headers, dict) else {"": headers},
            "body": _parsed(raw.get("body")),
        }
        if kind == "request":
            query = _parsed(raw.get("queryParams"))
            fields["queryParams"] = query if isinstance(query, dict) else {"": query}
        fields["createdAt"] = iso_created_at(moment)
        doc: Document = {
            "_id": entity_id,
            "json": msgspec.json.encode(fields),
            "raw": raw,
            "ts": sort_key(moment),
        }
        with contextlib.suppress(DuplicateKeyError):  # a redelivered log: already stored
            await col.insert_one(doc)
        return doc

    async def found(
        self, col: AsyncCollection[Document], ids: set[str], fields: tuple[str, ...] = ()
    ) -> dict[str, Document]:
        """The stored documents among ``ids`` (only ``fields``), keyed by id."""
        projection = {"_id": 1} | dict.fromkeys(fields, 1)
        return {doc["_id"]: doc async for doc in mongo.find_in(col, "_id", sorted(ids), projection)}


def _parsed(text: str | None) -> Any:
    """A JSON text as its value; text that is not JSON stays text (the server keeps it)."""
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def list_key(parent: str, ts: str, entity_id: str) -> str:
    """The key arkyn's plural lists page through: ``<parent>|<ts>|<id>``."""
    return f"{parent}|{ts}|{entity_id}"


def _document(entity: msgspec.Struct, parent: str, moment: datetime) -> Document:
    doc: Document = msgspec.to_builtins(entity)
    doc["_id"] = doc["id"]
    doc["ts"] = sort_key(moment)
    doc["lk"] = list_key(parent, doc["ts"], doc["id"])
    return doc
