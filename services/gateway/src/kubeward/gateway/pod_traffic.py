"""kguardian endpoints: ``/pod/traffic``, ``/pod/traffic/batch``, ``/pod/traffic/{name}``."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import reply_response
from kubeward.gateway.kguardian import INGEST, READ, no_data_response
from kubeward.gateway.params import iso_time, next_page_headers
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import declare
from kubeward.gateway.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.replies import NULL
from kubeward.schemas.traffic import (
    DECISIONS,
    TRAFFIC_TYPES,
    PodTrafficEvent,
    PodTrafficFlow,
    PodTrafficQuery,
    known_or_given,
)

_rows = msgspec.json.Decoder(list[msgspec.Raw])
_EMPTY_ARRAY = re.compile(rb"[ \t\r\n]*\[[ \t\r\n]*\][ \t\r\n]*")
"""``[]`` with JSON whitespace only."""
ROWS = declare(
    list[PodTrafficEvent],
    f"One page of rows; with_stats=true each row is a {PodTrafficFlow.__name__} "
    "(first_seen, last_seen, hits added)",
)


class PodTrafficController(Controller):
    """Observed pod traffic, wire-compatible with kguardian's broker API."""

    path = "/pod/traffic"
    opt = {"service": True}
    tags = ["pod traffic"]

    @post(
        "/",
        dependencies=documented(PodTrafficEvent),
        status_code=200,
        opt=INGEST,
        summary="Insert one traffic event",
        description="Returns the inserted row, or null when the flow was already stored.",
        responses=declare(PodTrafficEvent | None, "The inserted row, or null"),
    )
    async def add_one(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Publish one event through ingest and answer with the row it inserted, or null."""
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            raise ClientException(
                detail="Expected one JSON object; use /pod/traffic/batch for arrays"
            )
        reply = await link.collect(bus.COLLECT_POD_TRAFFIC, body)
        if not reply.ok:
            return reply_response(reply)
        rows = _rows.decode(reply.body) if reply.body != NULL else []
        return Response(content=bytes(rows[0]) if rows else b"null", media_type="application/json")

    @post(
        "/batch",
        dependencies=documented(list[PodTrafficEvent]),
        status_code=200,
        opt=INGEST,
        summary="Insert traffic events in bulk",
        description="Returns the number of rows inserted after dedup (within the batch and "
        "against stored rows). Invalid records reject the whole batch with 400.",
        responses=declare(int, "Rows inserted"),
    )
    async def add_batch(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Publish an array of events through ingest and answer with the count inserted."""
        body = await request.body()
        if body.lstrip()[:1] != b"[":
            raise ClientException(detail="Expected a JSON array of traffic events")
        if _EMPTY_ARRAY.fullmatch(body):
            # Nothing to insert, as in kguardian. Published, it would reach traffic-store as
            # an empty write, which fails and is redelivered, so the caller got a 504.
            return Response(content=0)
        reply = await link.collect(bus.COLLECT_POD_TRAFFIC, body)
        if not reply.ok:
            return reply_response(reply)
        return Response(content=reply.count or 0)

    @get(
        "/",
        opt=READ,
        summary="List traffic, newest first",
        description="Ordered (time_stamp DESC, uuid DESC). Paged: the next page's cursor is in "
        "the X-Next-Cursor header and a Link rel=next header.",
        response_headers=None,
        responses=ROWS,
    )
    async def list_all(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        namespace: FromQuery[str | None] = None,
        pod: FromQuery[str | None] = None,
        traffic_type: FromQuery[str | None] = None,
        decision: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
        with_stats: FromQuery[bool] = False,
    ) -> Response[Any]:
        """Stored rows matching the filters, one page at a time."""
        return await _list(
            request,
            link,
            settings,
            pod,
            namespace,
            traffic_type,
            decision,
            since,
            until,
            limit,
            cursor,
            with_stats,
            not_found=False,
        )

    @get(
        "/{name:str}",
        opt=READ,
        summary="List traffic of one pod, newest first",
        responses=ROWS,
    )
    async def list_pod(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        name: FromPath[str],
        namespace: FromQuery[str | None] = None,
        traffic_type: FromQuery[str | None] = None,
        decision: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
        with_stats: FromQuery[bool] = False,
    ) -> Response[Any]:
        """Rows of pod ``name``; 404 with body ``"No data found"`` when there are none."""
        return await _list(
            request,
            link,
            settings,
            name,
            namespace,
            traffic_type,
            decision,
            since,
            until,
            limit,
            cursor,
            with_stats,
            not_found=True,
        )


async def _list(
    request: Request[Any, Any, State],
    link: BusLink,
    settings: Settings,
    pod: str | None,
    namespace: str | None,
    traffic_type: str | None,
    decision: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    cursor: str | None,
    with_stats: bool,
    *,
    not_found: bool,
) -> Response[Any]:
    query = PodTrafficQuery(
        pod_name=pod,
        namespace=namespace,
        # Read as ingest stores them: a known value in any case, any other exactly as given.
        traffic_type=None if traffic_type is None else known_or_given(traffic_type, TRAFFIC_TYPES),
        decision=None if decision is None else known_or_given(decision, DECISIONS),
        since=iso_time("since", since),
        until=iso_time("until", until),
        # As the broker: absent is the default page, anything else clamped to [1, max].
        limit=settings.default_page if limit is None else max(1, limit),
        cursor=cursor,
        with_stats=with_stats,
    )
    answer = await link.ask(
        bus.RPC_POD_TRAFFIC_LIST, msgspec.json.encode(query), "Traffic store is not available"
    )
    if not answer.ok:
        return reply_response(answer)
    rows = bytes(answer.body)
    if not_found and cursor is None and rows == b"[]":
        return no_data_response()
    headers = next_page_headers(request, answer.cursor)
    return Response(content=rows, media_type="application/json", headers=headers)
