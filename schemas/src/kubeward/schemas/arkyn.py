"""arkyn's real clients: the ``@arkyn/server`` collector's log body and the plural API.

``POST /ingest-log`` (and ``POST /http-traffic-records/{trafficSourceId}``) carry one
:class:`ArkynLogIn`: the collector's flattened transaction, headers and bodies as JSON
strings. The plural routes (``/traffic-sources``, ``/domains``, ...) are answered by
traffic-store through :class:`ArkynCommand` requests; their answers use the real server's
field names, lowercase ``method``/``level``/``protocol`` and list meta
``{page, pageLimit, totalItems}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]

ARKYN_CREATED_AT = "%m/%d/%Y at %H:%M:%S"
"""How arkyn-logs (and its panel) show ``createdAt`` on the plural routes (UTC)."""

SORT_KEYS = frozenset({"createdAt"})
"""Sort keys the plural lists support: the indexed, time-ordered key only."""

DEFAULT_PAGE_LIMIT = 20
"""arkyn-logs' default ``pageLimit``."""


class ArkynLogIn(msgspec.Struct, kw_only=True, rename="camel"):
    """What ``logRequest`` of ``@arkyn/server`` posts (checked further by ingest).

    ``requestHeaders``, ``requestBody``, ``queryParams``, ``responseHeaders`` and
    ``responseBody`` are JSON texts (``JSON.stringify`` of the values), as arkyn requires.
    """

    domain_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    pathname_url: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    traffic_source_id: Id
    status: Annotated[int, msgspec.Meta(ge=100, le=599)]
    protocol: Annotated[str, msgspec.Meta(min_length=1, max_length=8)]
    method: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    elapsed_time: Annotated[float, msgspec.Meta(ge=0)]
    traffic_user_id: str | None = None
    request_headers: str = "{}"
    request_body: str | None = None
    query_params: str = "{}"
    response_headers: str = "{}"
    response_body: str | None = None


class ExchangeIn(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``POST /requests`` and ``POST /responses``: JSON texts, as arkyn requires."""

    headers: str
    body: str | None = None
    query_params: str | None = None


class SourceUpdate(msgspec.Struct, kw_only=True, rename="camel"):
    """Body of ``PUT /traffic-sources/{id}``."""

    name: str | None = None
    traffic_domain: str | None = None


class HttpLogGroup(msgspec.Struct, array_like=True):
    """One valid collector log from one ``COLLECT`` message."""

    origin_seq: int
    origin_us: int
    reply_to: str | None
    digest: str
    """Hex digest of the posted bytes: the idempotency key (a retried post stores nothing)."""
    record: ArkynLogIn


class HttpLogBatch(msgspec.Struct, array_like=True):
    """What ingest publishes on ``kubeward.traffic.http-log`` (msgpack)."""

    groups: list[HttpLogGroup]


ArkynKind = Literal[
    "traffic-sources",
    "domains",
    "pathnames",
    "http-traffics",
    "http-traffic-records",
    "requests",
    "responses",
]


class ArkynCommand(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Request on ``RPC_ARKYN``: one plural-route operation.

    ``action`` is ``list``, ``get``, ``create``, ``update`` or ``delete``; ``parent`` the
    route's trafficSourceId (and ``domain`` its domainId) for lists and creates; ``id`` the
    entity for get/update/delete; ``body`` the caller's JSON bytes for create/update.
    """

    kind: ArkynKind
    action: Literal["list", "get", "create", "update", "delete"]
    id: str | None = None
    parent: str | None = None
    domain: str | None = None
    body: bytes = b""
    page: int = 1
    page_limit: int = DEFAULT_PAGE_LIMIT
    sort_direction: Literal["asc", "desc"] = "desc"
    filters: dict[str, str] = {}
