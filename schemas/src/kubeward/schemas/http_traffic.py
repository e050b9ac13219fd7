"""arkyn HTTP-traffic contracts: wire bodies, stored records, internal batches and queries.

Field names are arkyn's camelCase JSON names. ``HttpTraffic.createdAt`` is rendered the way
arkyn renders it (``"06/11/2025 at 15:27:01"``, UTC); the other entities carry ISO 8601
``createdAt`` values (``"2025-07-10T14:00:00.000Z"``) as in arkyn's entity examples.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
LEVELS = frozenset({"INFO", "WARNING", "FATAL"})
PROTOCOLS = frozenset({"HTTP", "HTTPS"})

CREATED_AT_FORMAT = "%d/%m/%Y at %H:%M:%S"
"""How ``HttpTraffic.createdAt`` is shown: day/month/year "at" hours:minutes:seconds, UTC."""
SORT_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
"""How the stored sort key ``ts`` is kept: naive UTC with microseconds, sortable as text."""

_ID_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
Status = Annotated[int, msgspec.Meta(ge=100, le=599)]
Millis = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0)]
PortNumber = Annotated[int, msgspec.Meta(ge=1, le=65535)]
JsonObject = dict[str, Any]


def level_for(status: int) -> str:
    """arkyn's log level of a response status: 5xx FATAL, 4xx WARNING, anything else INFO."""
    if status >= 500:
        return "FATAL"
    if status >= 400:
        return "WARNING"
    return "INFO"


def format_created_at(moment: datetime) -> str:
    """``createdAt`` of an HttpTraffic record, e.g. ``"06/11/2025 at 15:27:01"`` (UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(CREATED_AT_FORMAT)


def iso_created_at(moment: datetime) -> str:
    """``createdAt`` of the other entities, e.g. ``"2025-07-10T14:00:00.000Z"`` (UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sort_key(moment: datetime) -> str:
    """The stored, text-sortable time of a record (see :data:`SORT_KEY_FORMAT`)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(SORT_KEY_FORMAT)


def is_id_token(value: str) -> bool:
    """True when ``value`` can be an id and a NATS subject token (letters, digits, ``-_``)."""
    return _ID_TOKEN.fullmatch(value) is not None


def uuid7(unix_ms: int | None = None, seed: bytes | None = None) -> str:
    """A UUIDv7 string: 48-bit Unix milliseconds, then 74 random bits.

    With ``seed`` the "random" bits are a hash of it, so the same ``(unix_ms, seed)``
    always gives the same id (used to keep redelivered records' ids stable).
    """
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    tail = os.urandom(10) if seed is None else hashlib.blake2b(seed, digest_size=10).digest()
    rand = int.from_bytes(tail, "big") & ((1 << 74) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


# --- Wire bodies (what callers send) ------------------------------------------------


class HttpTrafficIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /http-traffic/{trafficSourceId}`` and of a collect message.

    ``method`` is upper-cased and checked against :data:`HTTP_METHODS` by ingest.
    """

    status: Status
    method: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    elapsed_time: Millis
    traffic_user_id: Name | None = None
    domain_id: Id
    pathname_id: Id
    request_id: Id
    response_id: Id


class TrafficSourceIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /traffic-source``."""

    name: Name
    traffic_domain: Name | None = None


class DomainIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /domain/{trafficSourceId}``; ``protocol`` is HTTP or HTTPS."""

    value: Name
    protocol: Annotated[str, msgspec.Meta(min_length=1, max_length=8)]
    port: PortNumber | None = None


class PathnameIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /pathname/{trafficSourceId}/{domainId}``; ``value`` starts with ``/``."""

    value: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, pattern="^/")]
    domain_id: Id | None = None
    """Taken from the route; a body value must agree with it."""


class RequestIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /request``."""

    headers: JsonObject
    body: Any = None
    query_params: JsonObject


class ResponseIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /response``."""

    headers: JsonObject
    body: Any = None


# --- Stored and returned records ----------------------------------------------------


class HttpTraffic(msgspec.Struct, kw_only=True, rename="camel"):
    """A stored HttpTraffic record, exactly arkyn's response shape."""

    id: str
    status: int
    method: str
    level: str
    elapsed_time: int | float
    traffic_user_id: str | None
    traffic_source_id: str
    domain_id: str
    pathname_id: str
    request_id: str
    response_id: str
    created_at: str


class TrafficSource(msgspec.Struct, kw_only=True, rename="camel"):
    """A traffic source: the monitored application."""

    id: str
    name: str
    traffic_domain: str | None
    created_at: str
    updated_at: str


class Domain(msgspec.Struct, kw_only=True, rename="camel"):
    """A domain of a traffic source."""

    id: str
    value: str
    protocol: str
    port: int | None
    traffic_source_id: str
    created_at: str


class Pathname(msgspec.Struct, kw_only=True, rename="camel"):
    """A URL path of a domain of a traffic source."""

    id: str
    value: str
    traffic_source_id: str
    domain_id: str
    created_at: str


class Request(msgspec.Struct, kw_only=True, rename="camel"):
    """A recorded HTTP request."""

    id: str
    headers: JsonObject
    body: Any
    query_params: JsonObject
    created_at: str


class Response(msgspec.Struct, kw_only=True, rename="camel"):
    """A recorded HTTP response."""

    id: str
    headers: JsonObject
    body: Any
    created_at: str


# --- Internal: batches, creation and queries ----------------------------------------


class HttpTrafficGroup(msgspec.Struct, array_like=True):
    """Valid records from one collect message."""

    origin_seq: int
    """Stream sequence of the originating ``COLLECT`` message."""
    origin_us: int
    """Its stream timestamp in Unix microseconds: the records' ``createdAt``."""
    reply_to: str | None
    traffic_source_id: str
    records: list[HttpTrafficIn]


class HttpTrafficBatch(msgspec.Struct, array_like=True):
    """What ingest publishes on ``kubeward.traffic.http`` (msgpack)."""

    groups: list[HttpTrafficGroup]


EntityKind = Literal["traffic-source", "domain", "pathname", "request", "response"]


class HttpEntityCreate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Request on ``RPC_HTTP_ENTITY_CREATE``: the caller's body bytes plus route ids.

    The body travels as bytes (base64 in JSON) so that malformed input reaches the owning
    service intact and is rejected there with a 400 naming the problem.
    """

    kind: EntityKind
    body: bytes
    traffic_source_id: str | None = None
    domain_id: str | None = None


class HttpTrafficQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Filters and page for ``GET /http-traffic/{trafficSourceId}``; newest first."""

    traffic_source_id: str
    level: str | None = None
    method: str | None = None
    status: int | None = None
    domain_id: str | None = None
    pathname_id: str | None = None
    since: str | None = None
    """Inclusive lower bound on the stored time (:data:`SORT_KEY_FORMAT`)."""
    until: str | None = None
    """Inclusive upper bound on the stored time."""
    limit: int = 10
    page: int = 1
    """1-based page number (arkyn); ignored when ``cursor`` is given."""
    cursor: str | None = None
    """Opaque keyset cursor from the previous page's reply."""


class PageMeta(msgspec.Struct, kw_only=True):
    """arkyn's paging block of a list response."""

    total: int
    page: int | None
    limit: int
