"""arkyn's collector: ``POST /ingest-log`` (``@arkyn/server``'s ``logRequest``) and the
server's own compose route ``POST /http-traffic-records/{trafficSourceId}``.

The body goes to ingest on ``kubeward.collect.http-log`` like every collector input and the
gateway relays the outcome: 200 ``null`` as arkyn's ingest answers, 422 with arkyn's
``fieldErrors``, 404 for an unknown source. The library authenticates with
``Authorization: Bearer <userToken>``: the service token works, and so does any token
listed in ``ARKYN_LOG_TOKENS`` (accepted on these two routes only), so apps configured
with an arkyn user token keep working unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from kubeward.gateway.arkyn_errors import arkyn_error, arkyn_invalid, arkyn_reply
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import declare
from kubeward.schemas import bus
from kubeward.schemas.arkyn import ArkynLogIn

OPT = {"service": True, "extra_tokens": "arkyn_log_tokens"}
"""The service token, or one of ``ARKYN_LOG_TOKENS``."""


async def _relay(link: BusLink, body: bytes) -> Response[Any]:
    reply = await link.collect(bus.COLLECT_HTTP_LOG, body)
    return arkyn_reply(reply, body)


class ArkynLogController(Controller):
    """Collector input in arkyn's flattened form."""

    path = "/"
    opt = OPT
    tags = ["arkyn clients"]

    @post(
        "/ingest-log",
        dependencies=documented(ArkynLogIn),
        status_code=200,
        summary="arkyn collector log (@arkyn/server logRequest)",
        description="Body: domainUrl, pathnameUrl, trafficSourceId, status, protocol, method, "
        "trafficUserId, elapsedTime and requestHeaders/requestBody/queryParams/"
        "responseHeaders/responseBody as JSON texts. Composes domain, pathname, request, "
        "response and HttpTraffic; a retried identical post stores nothing. Answers 200 null.",
        responses=declare(type(None), "null"),
    )
    async def ingest_log(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Publish the posted bytes as they are (their digest is the idempotency key)."""
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            return arkyn_invalid("body: Expected one JSON object", body)
        return await _relay(link, body)

    @post(
        "/http-traffic-records/{traffic_source_id:str}",
        dependencies=documented(ArkynLogIn),
        status_code=200,
        summary="Compose an HttpTraffic record (arkyn-logs)",
        description="The ingest-log body with the trafficSourceId taken from the path.",
        responses=declare(type(None), "null"),
    )
    async def compose(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        traffic_source_id: FromPath[str],
    ) -> Response[Any]:
        """The route's trafficSourceId replaces the body's, as arkyn-logs does."""
        raw = await request.body()
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return arkyn_invalid("body: malformed JSON", raw)
        if not isinstance(body, dict):
            return arkyn_invalid("body: Expected one JSON object", raw)
        if not traffic_source_id:
            return arkyn_error(404, "Traffic source not found")
        body["trafficSourceId"] = traffic_source_id
        return await _relay(link, msgspec.json.encode(body))
