"""Error bodies as the reference clients expect them: ``{"detail": "..."}``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kubeward.schemas.replies import Reply

log = logging.getLogger(__name__)


def detail_response(
    status: int, detail: str, headers: dict[str, str] | None = None
) -> Response[dict[str, str]]:
    """A JSON ``{"detail": ...}`` response."""
    return Response({"detail": detail}, status_code=status, headers=headers)


def reply_response(reply: Reply) -> Response[dict[str, str]]:
    """An error :class:`Reply` from a service as the HTTP error it stands for."""
    return detail_response(reply.status, reply.detail or "Request failed")


def json_reply(reply: Reply, headers: dict[str, str] | None = None) -> Response[Any]:
    """A service's :class:`Reply` as the HTTP response: its JSON body, or its error."""
    if not reply.ok:
        return reply_response(reply)
    return Response(
        content=bytes(reply.body),
        status_code=reply.status,
        media_type="application/json",
        headers=headers,
    )


def http_exception(
    _request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, str]]:
    """Render any Litestar HTTP error as ``{"detail": ...}``; validation errors name the field."""
    detail = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        fields = "; ".join(
            f"{item.get('key', '?')}: {item.get('message', '')}"
            for item in exc.extra
            if isinstance(item, dict)
        )
        detail = f"{detail}: {fields}" if fields else detail
    return detail_response(exc.status_code, detail, dict(exc.headers or {}))


UNAVAILABLE = (ConnectionFailure, RedisConnectionError, RedisTimeoutError)
"""Errors that mean a dependency is down, not that the request or the gateway is wrong."""


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Answer what slipped past the handlers: 400 for input nested too deeply to decode or
    a number too large to store, 503 while MongoDB or Redis is unreachable, otherwise a
    logged 500 without internals."""
    if isinstance(exc, RecursionError):
        return detail_response(HTTP_400_BAD_REQUEST, "Request body is nested too deeply")
    if isinstance(exc, OverflowError):
        return detail_response(HTTP_400_BAD_REQUEST, "A number in the request is out of range")
    if isinstance(exc, UNAVAILABLE):
        log.warning("%s %s: dependency unavailable: %s", request.method, request.url.path, exc)
        return detail_response(
            HTTP_503_SERVICE_UNAVAILABLE, "Service temporarily unavailable", {"Retry-After": "5"}
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return detail_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")
