"""Service-token authentication: ``X-Service-Token`` or ``Authorization: Bearer``."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

NOT_AUTHENTICATED = "Not authenticated"


def presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token a caller presented, from either header or (for streams) ``?token=``."""
    token = connection.headers.get("x-service-token")
    if token:
        return token
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return connection.query_params.get("token")


DOCS_PATH = "/docs"


def _is_docs(path: str) -> bool:
    """The OpenAPI document and its UIs are public, as in the reference (FastAPI's /docs)."""
    return path == DOCS_PATH or path.startswith(DOCS_PATH + "/")


def require_service_token(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: pass routes marked ``public``; otherwise demand the configured service token."""
    if handler.opt.get("public") or _is_docs(connection.scope["path"]):
        return
    expected: str = connection.app.state.settings.service_token
    token = presented_token(connection)
    if not expected or token is None or not hmac.compare_digest(token, expected):
        raise NotAuthorizedException(detail=NOT_AUTHENTICATED)
