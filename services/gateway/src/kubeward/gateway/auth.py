"""Who is calling: a user session (cookie ``kure_session``) or the service token.

Route ``opt`` keys decide who may call:
- ``public``: anyone (``/health``, ``/metrics``, login, signup, status, docs);
- ``service``: the service token is accepted here (agent and scanner ingest, the kguardian
  and arkyn endpoints); elsewhere it is refused with 403, admin endpoints included;
- ``service_only``: only the service token (users get 403);
- ``kguardian``: ``read`` or ``ingest``, the scope kguardian's broker requires on the route;
  its scoped tokens (``BROKER_TOKEN_READ``, ``BROKER_TOKEN_INGEST``, ``BROKER_TOKEN_ADMIN``,
  ``BROKER_AUTH_TOKEN``) are accepted on these routes only, and with
  ``KGUARDIAN_ANONYMOUS_READ`` the ``read`` ones need no credentials;
- ``role``: the least user role (``read`` < ``write`` < ``admin``); by default ``read``
  for GET/HEAD/OPTIONS and ``write`` for everything else.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from kubeward.gateway.sessions import SESSION_COOKIE
from kubeward.gateway.users import RANK

NOT_AUTHENTICATED = "Not authenticated"
INSUFFICIENT = "Insufficient permissions"
DOCS_PATH = "/docs"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL = "kubeward.principal"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated caller."""

    kind: Literal["user", "service"]
    username: str
    role: str


SERVICE = Principal(kind="service", username="service-token", role="service")
KGUARDIAN_READ = Principal(kind="service", username="kguardian-read", role="kguardian-read")
KGUARDIAN_INGEST = Principal(kind="service", username="kguardian-ingest", role="kguardian-ingest")
ANONYMOUS = Principal(kind="service", username="anonymous", role="kguardian-read")


def presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token a caller presented, from either header or (for streams) ``?token=``."""
    token = header_token(connection)
    if token is not None:
        return token
    return connection.query_params.get("token")


def header_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """A token from ``X-Service-Token`` or ``Authorization: Bearer``."""
    token = connection.headers.get("x-service-token")
    if token:
        return token
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _is_docs(path: str) -> bool:
    """The OpenAPI document and its UIs are public, as in the reference (FastAPI's /docs)."""
    return path == DOCS_PATH or path.startswith(DOCS_PATH + "/")


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty ``expected`` matches nothing.

    On bytes: ``compare_digest`` refuses ``str`` with non-ASCII characters, which a caller
    can put in a header (a 500 otherwise)."""
    return (
        bool(expected)
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


def is_service_token(connection: ASGIConnection[Any, Any, Any, Any], token: str | None) -> bool:
    """True when ``token`` is the configured service token (never when none is configured)."""
    return same_token(token, connection.app.state.settings.service_token)


def kguardian_principal(
    connection: ASGIConnection[Any, Any, Any, Any], token: str
) -> Principal | None:
    """The kguardian scope a token carries, from the broker's token variables."""
    settings = connection.app.state.settings
    scoped = (
        (settings.broker_token_read, KGUARDIAN_READ),
        (settings.broker_token_ingest, KGUARDIAN_INGEST),
        (settings.broker_token_admin, KGUARDIAN_INGEST),
        (settings.broker_auth_token, KGUARDIAN_INGEST),
    )
    found = None
    for expected, principal in scoped:
        if same_token(token, expected):
            found = found or principal
    return found


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], allow_query_token: bool = False
) -> Principal | None:
    """The caller, from the service token or the session cookie; ``None`` when neither."""
    token = presented_token(connection) if allow_query_token else header_token(connection)
    if token is not None:
        return SERVICE if is_service_token(connection, token) else None
    cookie = connection.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session = await connection.app.state.sessions.resolve(cookie)
    if session is None:
        return None
    return Principal(kind="user", username=session.username, role=session.role)


def authorise(principal: Principal, opt: dict[str, Any], method: str) -> None:
    """Raise 403 unless ``principal`` may call a route with ``opt`` by ``method``."""
    if principal.role.startswith("kguardian-"):
        scope = opt.get("kguardian")
        if scope is None:
            raise PermissionDeniedException(detail="The service token is not accepted here")
        if scope == "ingest" and principal.role == KGUARDIAN_READ.role:
            raise PermissionDeniedException(detail=INSUFFICIENT)
        return
    if principal.kind == "service":
        if not (opt.get("service") or opt.get("service_only")):
            raise PermissionDeniedException(detail="The service token is not accepted here")
        return
    if opt.get("service_only"):
        raise PermissionDeniedException(
            detail="Only agents and scanners (service token) may call this"
        )
    needed = opt.get("role") or ("read" if method in _SAFE_METHODS else "write")
    if RANK.get(principal.role, -1) < RANK[needed]:
        raise PermissionDeniedException(detail=INSUFFICIENT)


async def require_auth(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """App-wide guard: public routes pass; others need an authorised principal."""
    if handler.opt.get("public") or _is_docs(connection.scope["path"]):
        return
    principal = await authenticate(connection, allow_query_token=bool(handler.opt.get("stream")))
    if principal is None and handler.opt.get("kguardian"):
        # kguardian's scoped tokens: only here, never for the feed or the auth status.
        token = header_token(connection)
        principal = kguardian_principal(connection, token) if token else None
    if principal is None:
        principal = extra_token(connection, handler.opt)
    if principal is None:
        anonymous_read = connection.app.state.settings.kguardian_anonymous_read
        if not (anonymous_read and handler.opt.get("kguardian") == "read"):
            raise NotAuthorizedException(detail=NOT_AUTHENTICATED)
        principal = ANONYMOUS
    authorise(principal, handler.opt, str(connection.scope.get("method", "GET")))
    connection.scope[_PRINCIPAL] = principal  # type: ignore[literal-required]


def extra_token(
    connection: ASGIConnection[Any, Any, Any, Any], opt: dict[str, Any]
) -> Principal | None:
    """The service principal for a header token listed in the setting a route names in
    ``opt["extra_tokens"]`` (comma-separated; e.g. ``ARKYN_LOG_TOKENS`` on arkyn's collector
    routes, whose library sends the app's own token)."""
    setting = opt.get("extra_tokens")
    token = header_token(connection)
    if not setting or token is None:
        return None
    listed = str(getattr(connection.app.state.settings, setting, ""))
    tokens = [t.strip() for t in listed.split(",") if t.strip()]
    return SERVICE if any(same_token(token, t) for t in tokens) else None


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal the guard authenticated for this request."""
    principal = connection.scope.get(_PRINCIPAL)
    if not isinstance(principal, Principal):
        raise NotAuthorizedException(detail=NOT_AUTHENTICATED)
    return principal


async def authenticate_websocket(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True when a WebSocket may connect: session cookie or ``?token=`` service token."""
    return await authenticate(connection, allow_query_token=True) is not None
