"""arkyn endpoints: HttpTraffic records and the entities they refer to.

Writes of HttpTraffic go through ingest exactly like a collector's
(``kubeward.collect.http-traffic.<trafficSourceId>``); entity creation and listing ask
traffic-store over request/reply.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery, QueryParameter

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import detail_response, json_reply
from kubeward.gateway.params import choice, iso_time, next_page_headers
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import HttpTrafficPage, HttpTrafficRecord, declare
from kubeward.schemas import bus
from kubeward.schemas.http_traffic import (
    HTTP_METHODS,
    LEVELS,
    Domain,
    DomainIn,
    EntityKind,
    HttpEntityCreate,
    HttpTrafficIn,
    HttpTrafficQuery,
    Pathname,
    PathnameIn,
    RequestIn,
    ResponseIn,
    TrafficSource,
    TrafficSourceIn,
    is_id_token,
)
from kubeward.schemas.http_traffic import Request as RecordedRequest
from kubeward.schemas.http_traffic import Response as RecordedResponse
from kubeward.schemas.replies import Reply

DEFAULT_PAGE = 10
"""arkyn's default page size."""
MAX_PAGE_NUMBER = 1_000_000_000
"""Beyond any real listing; keeps ``(page - 1) * limit`` within MongoDB's 64-bit integers."""


async def _object_body(request: Request[Any, Any, State]) -> bytes:
    body = await request.body()
    if body.lstrip()[:1] != b"{":
        raise ClientException(detail="Expected one JSON object")
    return body


def _source_or_404(traffic_source_id: str) -> Response[Any] | None:
    """Ids are subject tokens; anything else cannot name a stored source."""
    if is_id_token(traffic_source_id):
        return None
    return detail_response(404, f"Traffic source {traffic_source_id} not found")


async def _ask(link: BusLink, subject: str, payload: bytes) -> Reply:
    return await link.ask(subject, payload, "Traffic store is not available")


async def _create(
    request: Request[Any, Any, State],
    link: BusLink,
    kind: EntityKind,
    traffic_source_id: str | None = None,
    domain_id: str | None = None,
) -> Response[Any]:
    body = await _object_body(request)
    payload = HttpEntityCreate(
        kind=kind, body=body, traffic_source_id=traffic_source_id, domain_id=domain_id
    )
    return json_reply(await _ask(link, bus.RPC_HTTP_ENTITY_CREATE, msgspec.json.encode(payload)))


class HttpTrafficController(Controller):
    """arkyn's HTTP-traffic API: sources, domains, pathnames, requests, responses, traffic."""

    path = "/"
    opt = {"service": True}
    tags = ["http traffic"]

    @post(
        "/traffic-source",
        dependencies=documented(TrafficSourceIn),
        status_code=201,
        summary="Create a traffic source",
        responses=declare(TrafficSource, "The source", 201),
    )
    async def create_source(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{name, trafficDomain?}``; 409 when the traffic domain is taken."""
        return await _create(request, link, "traffic-source")

    @post(
        "/domain/{traffic_source_id:str}",
        dependencies=documented(DomainIn),
        status_code=201,
        summary="Create a domain",
        responses=declare(Domain, "The domain (an identical one if it exists)", 201),
    )
    async def create_domain(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        traffic_source_id: FromPath[str],
    ) -> Response[Any]:
        """Body ``{value, protocol, port?}``; an identical domain is returned, not duplicated."""
        return await _create(request, link, "domain", traffic_source_id)

    @post(
        "/pathname/{traffic_source_id:str}/{domain_id:str}",
        dependencies=documented(PathnameIn),
        status_code=201,
        summary="Create a pathname",
        responses=declare(Pathname, "The pathname (an identical one if it exists)", 201),
    )
    async def create_pathname(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        traffic_source_id: FromPath[str],
        domain_id: FromPath[str],
    ) -> Response[Any]:
        """Body ``{value}`` (starting with ``/``); an identical pathname is returned."""
        return await _create(request, link, "pathname", traffic_source_id, domain_id)

    @post(
        "/request",
        dependencies=documented(RequestIn),
        status_code=201,
        summary="Record an HTTP request",
        responses=declare(RecordedRequest, "The recorded request", 201),
    )
    async def create_request(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{headers, body?, queryParams}``."""
        return await _create(request, link, "request")

    @post(
        "/response",
        dependencies=documented(ResponseIn),
        status_code=201,
        summary="Record an HTTP response",
        responses=declare(RecordedResponse, "The recorded response", 201),
    )
    async def create_response(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Body ``{headers, body?}``."""
        return await _create(request, link, "response")

    @post(
        "/http-traffic/{traffic_source_id:str}",
        dependencies=documented(HttpTrafficIn),
        status_code=201,
        summary="Create an HttpTraffic record",
        description="Goes through ingest like a collector's message; answers with the stored "
        "record (level derived from status). 404 names the first unknown id.",
        responses=declare(HttpTrafficRecord, "The stored record", 201),
    )
    async def create_traffic(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        traffic_source_id: FromPath[str],
    ) -> Response[Any]:
        """Publish the body on the collect subject of the source and relay the outcome."""
        unknown = _source_or_404(traffic_source_id)
        if unknown is not None:
            return unknown
        body = await _object_body(request)
        reply = await link.collect(bus.COLLECT_HTTP_TRAFFIC_PREFIX + traffic_source_id, body)
        return json_reply(reply)

    @get(
        "/http-traffic/{traffic_source_id:str}",
        summary="List a source's HttpTraffic, newest first",
        description='Answers {"data": [...], "meta": {"total", "page", "limit"}}. Paged by '
        "page/limit (arkyn) or by the keyset cursor in X-Next-Cursor and Link rel=next.",
        responses=declare(HttpTrafficPage, "One page, newest first"),
    )
    async def list_traffic(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        traffic_source_id: FromPath[str],
        level: FromQuery[str | None] = None,
        method: FromQuery[str | None] = None,
        status: Annotated[int | None, QueryParameter(ge=100, le=599)] = None,
        domain_id: Annotated[str | None, QueryParameter(name="domainId")] = None,
        pathname_id: Annotated[str | None, QueryParameter(name="pathnameId")] = None,
        start_date: Annotated[str | None, QueryParameter(name="startDate")] = None,
        end_date: Annotated[str | None, QueryParameter(name="endDate")] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_NUMBER)] = 1,
        limit: Annotated[int | None, QueryParameter(ge=1)] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """One page of the source's records matching the filters."""
        unknown = _source_or_404(traffic_source_id)
        if unknown is not None:
            return unknown
        query = HttpTrafficQuery(
            traffic_source_id=traffic_source_id,
            level=choice("level", level, LEVELS),
            method=choice("method", method, HTTP_METHODS),
            status=status,
            domain_id=domain_id,
            pathname_id=pathname_id,
            since=iso_time("startDate", start_date) or iso_time("since", since),
            until=iso_time("endDate", end_date) or iso_time("until", until),
            limit=limit or DEFAULT_PAGE,
            page=page,
            cursor=cursor,
        )
        answer = await _ask(link, bus.RPC_HTTP_TRAFFIC_LIST, msgspec.json.encode(query))
        if not answer.ok:
            return json_reply(answer)
        headers = next_page_headers(request, answer.cursor)
        return Response(content=bytes(answer.body), media_type="application/json", headers=headers)
