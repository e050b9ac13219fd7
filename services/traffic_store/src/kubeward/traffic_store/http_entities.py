"""arkyn entities HttpTraffic refers to: traffic sources, domains, pathnames, requests, responses.

Creating a domain or pathname that already exists (same source, value, protocol and port;
same domain and value) returns the stored one, as arkyn documents for domains, so that
collectors can "create" them on every observation without piling up duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

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
    uuid7,
)
from kubeward.schemas.replies import Reply, error

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

    async def ensure_indexes(self) -> None:
        """Unique natural keys for domains and pathnames; traffic-domain look-ups."""
        await self.sources.create_index("trafficDomain")
        await self.domains.create_index(
            [("trafficSourceId", 1), ("value", 1), ("protocol", 1), ("port", 1)], unique=True
        )
        await self.pathnames.create_index([("domainId", 1), ("value", 1)], unique=True)

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
        now = iso_created_at(datetime.now(UTC))
        source = TrafficSource(
            id=uuid7(),
            name=body.name,
            traffic_domain=body.traffic_domain,
            created_at=now,
            updated_at=now,
        )
        await self.sources.insert_one(_document(source))
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
        value = body.value.lower()
        natural = {
            "trafficSourceId": source_id,
            "value": value,
            "protocol": protocol,
            "port": body.port,
        }
        domain = Domain(
            id=uuid7(),
            value=value,
            protocol=protocol,
            port=body.port,
            traffic_source_id=source_id,
            created_at=iso_created_at(datetime.now(UTC)),
        )
        return await self._insert_or_existing(self.domains, natural, domain, Domain)

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
        natural = {"domainId": domain_id, "value": body.value}
        pathname = Pathname(
            id=uuid7(),
            value=body.value,
            traffic_source_id=source_id,
            domain_id=domain_id,
            created_at=iso_created_at(datetime.now(UTC)),
        )
        return await self._insert_or_existing(self.pathnames, natural, pathname, Pathname)

    async def _insert_or_existing(
        self,
        col: AsyncCollection[Document],
        natural: dict[str, Any],
        entity: msgspec.Struct,
        kind: type[msgspec.Struct],
    ) -> Reply:
        """Insert ``entity`` unless one with the same natural key exists; return the stored one."""
        for _attempt in range(2):
            existing = await col.find_one(natural, _NO_ID)
            if existing is not None:
                return _created(msgspec.convert(existing, kind))
            try:
                await col.insert_one(_document(entity))
            except DuplicateKeyError:
                continue  # created concurrently: answer with that one
            return _created(entity)
        return error(409, "The entity was created and removed concurrently; retry")

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

    async def found(
        self, col: AsyncCollection[Document], ids: set[str], fields: tuple[str, ...] = ()
    ) -> dict[str, Document]:
        """The stored documents among ``ids`` (only ``fields``), keyed by id."""
        projection = {"_id": 1} | dict.fromkeys(fields, 1)
        found = await col.find({"_id": {"$in": sorted(ids)}}, projection).to_list()
        return {doc["_id"]: doc for doc in found}


def _document(entity: msgspec.Struct) -> Document:
    doc: Document = msgspec.to_builtins(entity)
    doc["_id"] = doc["id"]
    return doc
