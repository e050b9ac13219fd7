"""arkyn's plural routes, as arkyn-logs serves them and arkyn-panel reads them.

``/traffic-sources``, ``/domains``, ``/pathnames``, ``/http-traffics``,
``/http-traffic-records``, ``/requests``, ``/responses``: lists answer
``{"data": [...], "meta": {"page", "pageLimit", "totalItems"}}`` with ``page`` /
``pageLimit`` / ``sort`` / ``sortDirection``; ``sort`` accepts only the indexed key
``createdAt`` (anything else is a 400 naming the supported keys). Reads and entity writes
ask traffic-store (``RPC_ARKYN``); HttpTraffic creation goes through ingest like a
collector's. Successes answer 200, as arkyn-logs' route adapter does; errors are arkyn's
``BadResponse`` bodies (validation: 422 with ``fieldErrors``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath

from kubeward.gateway.arkyn_errors import arkyn_error, arkyn_invalid, arkyn_reply
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.params import iso_time
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import (
    ArkynDomain,
    ArkynDomainPage,
    ArkynPathname,
    ArkynPathnamePage,
    ArkynRecord,
    ArkynRecordPage,
    ArkynRequest,
    ArkynResponse,
    ArkynSource,
    ArkynSourcePage,
    ArkynTraffic,
    ArkynTrafficPage,
    declare,
)
from kubeward.schemas import bus
from kubeward.schemas.arkyn import (
    ARKYN_CREATED_AT,
    DEFAULT_PAGE_LIMIT,
    SORT_KEYS,
    ArkynCommand,
    ArkynKind,
    ExchangeIn,
    SourceUpdate,
)
from kubeward.schemas.http_traffic import (
    CREATED_AT_FORMAT,
    DomainIn,
    HttpTraffic,
    HttpTrafficIn,
    PathnameIn,
    TrafficSourceIn,
    is_id_token,
)
from kubeward.schemas.replies import Reply

MAX_PAGE_LIMIT = 1000
"""Largest ``pageLimit`` served; larger values are clamped."""
MAX_PAGE = 1_000_000
"""Largest ``page`` or ``pageLimit`` accepted (422 beyond, like any invalid number)."""
_METHODS = frozenset({"get", "post", "put", "delete", "patch", "head", "options"})
_LEVELS = frozenset({"info", "warning", "fatal"})
_PROTOCOLS = frozenset({"http", "https"})
DELETED = declare(type(None), "null")


class InvalidParamError(Exception):
    """A query parameter arkyn's server would refuse (422 naming it)."""


def _positive(params: Any, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    text = str(value)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidParamError(f"{name}: Expected an integer from 1 to {MAX_PAGE}")
    return int(text)


def _enum(params: Any, name: str, allowed: frozenset[str]) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if str(value).lower() not in allowed:
        options = "|".join(f'"{a}"' for a in sorted(allowed))
        raise InvalidParamError(f"{name}: Invalid option: expected one of {options}")
    return str(value).lower()


def command(
    request: Request[Any, Any, State], kind: ArkynKind, action: str, **ids: str | None
) -> ArkynCommand:
    """The :class:`ArkynCommand` of a list request; :class:`InvalidParamError` names a bad
    parameter, ``ValueError`` an unsupported ``sort``."""
    q = request.query_params
    sort = q.get("sort") or "createdAt"
    if sort not in SORT_KEYS:
        raise ValueError(
            f"sort: {sort!r} cannot be sorted on efficiently; supported: "
            + ", ".join(sorted(SORT_KEYS))
        )
    direction = _enum(q, "sortDirection", frozenset({"asc", "desc"})) or "desc"
    filters: dict[str, str] = {}
    for name in ("id", "domainId", "pathnameId", "name", "value"):
        if q.get(name):
            filters[name] = str(q.get(name))
    for name, allowed in (("method", _METHODS), ("level", _LEVELS), ("protocol", _PROTOCOLS)):
        value = _enum(q, name, allowed)
        if value is not None:
            filters[name] = value
    if q.get("status"):
        status = str(q.get("status"))
        if not (status.isascii() and status.isdigit() and len(status) <= 3):
            raise InvalidParamError("status: Status must be an integer")
        filters["status"] = status
    for name, key in (("startDate", "since"), ("endDate", "until")):
        if q.get(name):
            try:
                filters[key] = iso_time(name, q.get(name)) or ""
            except ClientException:
                raise InvalidParamError(f"{name}: Invalid {name} format") from None
    return ArkynCommand(
        kind=kind,
        action=action,  # type: ignore[arg-type]
        page=_positive(q, "page", 1),
        page_limit=min(_positive(q, "pageLimit", DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT),
        sort_direction=direction,  # type: ignore[arg-type]
        filters=filters,
        **ids,  # type: ignore[arg-type]
    )


async def _ask(link: BusLink, cmd: ArkynCommand) -> Reply:
    return await link.ask(bus.RPC_ARKYN, msgspec.json.encode(cmd), "Traffic store is not available")


async def _list(
    request: Request[Any, Any, State], link: BusLink, kind: ArkynKind, **ids: str | None
) -> Response[Any]:
    try:
        cmd = command(request, kind, "list", **ids)
    except InvalidParamError as exc:
        return arkyn_invalid(str(exc))
    except ValueError as exc:
        return arkyn_error(400, str(exc))
    return arkyn_reply(await _ask(link, cmd))


async def _do(
    link: BusLink,
    kind: ArkynKind,
    action: str,
    body: bytes = b"",
    status: int | None = None,
    **ids: str | None,
) -> Response[Any]:
    cmd = ArkynCommand(kind=kind, action=action, body=body, **ids)  # type: ignore[arg-type]
    return arkyn_reply(await _ask(link, cmd), body, status)


def lowercase_traffic(record: HttpTraffic) -> dict[str, Any]:
    """A created HttpTraffic in the plural shape (lowercase, arkyn-logs' time format)."""
    row: dict[str, Any] = msgspec.to_builtins(record)
    row["method"] = record.method.lower()
    row["level"] = record.level.lower()
    moment = datetime.strptime(record.created_at, CREATED_AT_FORMAT)
    row["createdAt"] = moment.strftime(ARKYN_CREATED_AT)
    return row


class ArkynPluralController(Controller):
    """The plural routes; the service token or a user session."""

    path = "/"
    opt = {"service": True}
    tags = ["arkyn clients"]

    # --- traffic sources -------------------------------------------------------

    @get(
        "/traffic-sources",
        summary="List traffic sources (arkyn-logs)",
        responses=declare(ArkynSourcePage, "A page"),
    )
    async def list_sources(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """``{data, meta}``, newest first by default."""
        return await _list(request, link, "traffic-sources")

    @get(
        "/traffic-sources/{source_id:str}",
        summary="A traffic source (arkyn-panel)",
        responses=declare(ArkynSource, "The source"),
    )
    async def get_source(
        self, link: NamedDependency[BusLink], source_id: FromPath[str]
    ) -> Response[Any]:
        """One source or 404."""
        return await _do(link, "traffic-sources", "get", id=source_id)

    @post(
        "/traffic-sources",
        dependencies=documented(TrafficSourceIn),
        status_code=200,
        summary="Create a traffic source (arkyn-logs)",
        responses=declare(ArkynSource, "The source"),
    )
    async def create_source(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{name, trafficDomain}``; 409 when the traffic domain is taken."""
        return await _do(link, "traffic-sources", "create", await request.body())

    @put(
        "/traffic-sources/{source_id:str}",
        dependencies=documented(SourceUpdate),
        status_code=200,
        summary="Update a traffic source",
        responses=declare(ArkynSource, "The source"),
    )
    async def update_source(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """Body ``{name?, trafficDomain?}``."""
        return await _do(link, "traffic-sources", "update", await request.body(), id=source_id)

    @delete(
        "/traffic-sources/{source_id:str}",
        status_code=200,
        summary="Delete a traffic source",
        responses=DELETED,
    )
    async def delete_source(
        self, link: NamedDependency[BusLink], source_id: FromPath[str]
    ) -> Response[Any]:
        """200 ``null``; 404 when unknown."""
        return await _do(link, "traffic-sources", "delete", id=source_id)

    # --- domains ---------------------------------------------------------------

    @get(
        "/domains/{source_id:str}",
        summary="List a source's domains (arkyn-logs)",
        responses=declare(ArkynDomainPage, "A page"),
    )
    async def list_domains(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """``{data, meta}``; protocol lowercase."""
        return await _list(request, link, "domains", parent=source_id)

    @post(
        "/domains/{source_id:str}",
        dependencies=documented(DomainIn),
        status_code=200,
        summary="Create a domain (arkyn-logs)",
        responses=declare(ArkynDomain, "The domain (an identical one if it exists)"),
    )
    async def create_domain(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """Body ``{value, protocol: "http"|"https"}``; an identical domain is returned."""
        return await _do(link, "domains", "create", await request.body(), parent=source_id)

    @delete(
        "/domains/{domain_id:str}", status_code=200, summary="Delete a domain", responses=DELETED
    )
    async def delete_domain(
        self, link: NamedDependency[BusLink], domain_id: FromPath[str]
    ) -> Response[Any]:
        """200 ``null``; 404 when unknown."""
        return await _do(link, "domains", "delete", id=domain_id)

    # --- pathnames -------------------------------------------------------------

    @get(
        "/pathnames/{source_id:str}/{domain_id:str}",
        summary="List a domain's pathnames",
        responses=declare(ArkynPathnamePage, "A page"),
    )
    async def list_pathnames(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
        domain_id: FromPath[str],
    ) -> Response[Any]:
        """``{data, meta}``."""
        return await _list(request, link, "pathnames", parent=source_id, domain=domain_id)

    @post(
        "/pathnames/{source_id:str}/{domain_id:str}",
        dependencies=documented(PathnameIn),
        status_code=200,
        summary="Create a pathname",
        responses=declare(ArkynPathname, "The pathname (an identical one if it exists)"),
    )
    async def create_pathname(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
        domain_id: FromPath[str],
    ) -> Response[Any]:
        """Body ``{value}``; an identical pathname is returned."""
        body = await request.body()
        return await _do(link, "pathnames", "create", body, parent=source_id, domain=domain_id)

    @delete(
        "/pathnames/{pathname_id:str}",
        status_code=200,
        summary="Delete a pathname",
        responses=DELETED,
    )
    async def delete_pathname(
        self, link: NamedDependency[BusLink], pathname_id: FromPath[str]
    ) -> Response[Any]:
        """200 ``null``; 404 when unknown."""
        return await _do(link, "pathnames", "delete", id=pathname_id)

    # --- http traffics ---------------------------------------------------------

    @get(
        "/http-traffics/{source_id:str}",
        summary="List a source's HttpTraffics (arkyn-logs)",
        responses=declare(ArkynTrafficPage, "A page"),
    )
    async def list_traffics(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """Filters ``id``, ``method``, ``level``, ``status``, ``protocol``, ``domainId``,
        ``pathnameId``, ``startDate``/``endDate``."""
        return await _list(request, link, "http-traffics", parent=source_id)

    @post(
        "/http-traffics/{source_id:str}",
        dependencies=documented(HttpTrafficIn),
        status_code=200,
        summary="Create an HttpTraffic record",
        responses=declare(ArkynTraffic, "The stored record"),
    )
    async def create_traffic(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """Goes through ingest like ``POST /http-traffic/{id}``; answered in the plural shape."""
        if not is_id_token(source_id):
            return arkyn_error(404, f"Traffic source {source_id} not found")
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            return arkyn_invalid("body: Expected one JSON object", body)
        reply = await link.collect(bus.COLLECT_HTTP_TRAFFIC_PREFIX + source_id, body)
        if not reply.ok:
            return arkyn_reply(reply, body)
        record = msgspec.json.decode(reply.body, type=HttpTraffic)
        return Response(lowercase_traffic(record), status_code=200)

    @delete(
        "/http-traffics/{traffic_id:str}",
        status_code=200,
        summary="Delete an HttpTraffic",
        responses=DELETED,
    )
    async def delete_traffic(
        self, link: NamedDependency[BusLink], traffic_id: FromPath[str]
    ) -> Response[Any]:
        """200 ``null``; 404 when unknown."""
        return await _do(link, "http-traffics", "delete", id=traffic_id)

    # --- records ---------------------------------------------------------------

    @get(
        "/http-traffic-records/{source_id:str}",
        summary="List composed records (arkyn-logs)",
        responses=declare(ArkynRecordPage, "A page"),
    )
    async def list_records(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        source_id: FromPath[str],
    ) -> Response[Any]:
        """Each record with its domain URL, pathname, request and response as texts."""
        return await _list(request, link, "http-traffic-records", parent=source_id)

    @get(
        "/http-traffic-records/record/{traffic_id:str}",
        summary="One record (arkyn-panel)",
        responses=declare(ArkynRecord, "The record"),
    )
    async def get_record(
        self, link: NamedDependency[BusLink], traffic_id: FromPath[str]
    ) -> Response[Any]:
        """The record view the panel's detail page reads."""
        return await _do(link, "http-traffic-records", "get", id=traffic_id)

    # --- requests and responses ------------------------------------------------

    @post(
        "/requests",
        dependencies=documented(ExchangeIn),
        status_code=200,
        summary="Record a request (JSON texts)",
        responses=declare(ArkynRequest, "The request"),
    )
    async def create_request(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{headers, body, queryParams}``, each a JSON text."""
        return await _do(link, "requests", "create", await request.body())

    @get(
        "/requests/{request_id:str}",
        summary="A recorded request",
        responses=declare(ArkynRequest, "The request"),
    )
    async def get_request(
        self, link: NamedDependency[BusLink], request_id: FromPath[str]
    ) -> Response[Any]:
        """Headers, body and query parameters as JSON texts."""
        return await _do(link, "requests", "get", id=request_id)

    @post(
        "/responses",
        dependencies=documented(ExchangeIn),
        status_code=200,
        summary="Record a response (JSON texts)",
        responses=declare(ArkynResponse, "The response"),
    )
    async def create_response(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{headers, body}``, each a JSON text."""
        return await _do(link, "responses", "create", await request.body())

    @get(
        "/responses/{response_id:str}",
        summary="A recorded response",
        responses=declare(ArkynResponse, "The response"),
    )
    async def get_response(
        self, link: NamedDependency[BusLink], response_id: FromPath[str]
    ) -> Response[Any]:
        """Headers and body as JSON texts."""
        return await _do(link, "responses", "get", id=response_id)
