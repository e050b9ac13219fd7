"""``/api/auth/*`` (status, signup, login, logout, me, password) and ``/api/admin/users``.

``/api/admin/users/{key}`` takes a user's integer ``id`` (the Kure dashboard) or its name
(the reference); names are never all digits, so the two cannot be confused.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import FromPath, JSONBody

from kubeward.core import audit
from kubeward.gateway.auth import authenticate, principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import detail_response
from kubeward.gateway.ratelimit import SlidingWindowLimit
from kubeward.gateway.responses import DetailOut, ServicePrincipal, declare
from kubeward.gateway.sessions import SESSION_COOKIE, SessionStore
from kubeward.gateway.settings import Settings
from kubeward.gateway.users import ROLES, User, UserError, UserStore, is_id
from kubeward.schemas.audit import AuditRecord


class Credentials(msgspec.Struct):
    """Login or signup body."""

    username: str
    password: str


class NewUser(msgspec.Struct):
    """Admin: create a user."""

    username: str
    password: str
    role: str = "read"


class RoleChange(msgspec.Struct):
    """Admin: change a user's role."""

    role: str


class PasswordChange(msgspec.Struct):
    """A user changes their own password."""

    current_password: str
    new_password: str


class AuthStatus(msgspec.Struct):
    """Whether setup is needed and who is calling."""

    setup_required: bool
    authenticated: bool
    user: User | None = None


async def audit_user_change(
    request: Request[Any, Any, State], link: BusLink, action: str, username: str, **details: Any
) -> None:
    """Record a change to users on the ``AUDIT`` stream, with its actor."""
    record = AuditRecord(
        actor=principal_of(request).username,
        action=action,
        key=f"users.{username}",
        at=audit.now(),
        details=details,
    )
    await audit.publish_audit(link.js, "users", record)


def _http(exc: UserError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=exc.detail)


def session_cookie(settings: Settings, value: str, max_age: int | None) -> Cookie:
    """The ``kure_session`` cookie carrying ``value`` (empty with ``max_age=0`` clears it)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        max_age=max_age,
    )


class AuthController(Controller):
    """Dashboard authentication, as the Kure reference describes it."""

    path = "/api/auth"
    tags = ["auth"]

    @get("/status", opt={"public": True}, summary="Whether initial admin setup is needed")
    async def status(
        self, request: Request[Any, Any, State], users: NamedDependency[UserStore]
    ) -> AuthStatus:
        """``setup_required`` until the first user exists; the caller, if logged in."""
        setup_required = not await users.any()
        principal = await authenticate(request)
        user = None
        if principal is not None and principal.kind == "user":
            user = await users.get(principal.username)
        return AuthStatus(
            setup_required=setup_required, authenticated=principal is not None, user=user
        )

    @post(
        "/signup",
        opt={"public": True},
        status_code=201,
        summary="Create the initial admin (only while no user exists)",
    )
    async def signup(
        self,
        data: JSONBody[Credentials],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
    ) -> Response[User]:
        """The first user becomes admin and is logged in; afterwards this is 403."""
        if await users.any():
            raise PermissionDeniedException(detail="Signup is closed: users already exist")
        try:
            user = await users.create(data.username, data.password, "admin")
        except UserError as exc:
            raise _http(exc) from None
        cookie = await sessions.create(user.username, user.role)
        ttl = settings.session_ttl_seconds
        return Response(user, status_code=201, cookies=[session_cookie(settings, cookie, ttl)])

    @post(
        "/login",
        opt={"public": True},
        status_code=200,
        summary="Log in (5 per 30 s)",
        responses=declare(User, "The user; the session cookie is set"),
    )
    async def login(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[Credentials],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
        login_limit: NamedDependency[SlidingWindowLimit],
    ) -> Response[Any]:
        """Set the session cookie; 401 for wrong credentials; 429 past the rate limit."""
        client = request.client.host if request.client else "unknown"
        wait = await login_limit.hit(client)
        if wait is not None:
            retry_after = str(max(1, round(wait + 0.5)))
            return detail_response(
                429,
                "Too many login attempts; try again later",
                headers={"Retry-After": retry_after},
            )
        user = await users.verify(data.username, data.password)
        if user is None:
            return detail_response(401, "Invalid username or password")
        cookie = await sessions.create(user.username, user.role)
        ttl = settings.session_ttl_seconds
        return Response(user, cookies=[session_cookie(settings, cookie, ttl)])

    @post(
        "/logout",
        opt={"public": True},
        status_code=200,
        summary="End this session",
        responses=declare(DetailOut, "Logged out"),
    )
    async def logout(
        self,
        request: Request[Any, Any, State],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Revoke the session (on every replica) and clear the cookie."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await sessions.revoke(cookie)
        return Response({"detail": "Logged out"}, cookies=[session_cookie(settings, "", 0)])

    @get(
        "/me",
        summary="The logged-in user",
        responses=declare(User | ServicePrincipal, "The user, or the service token's principal"),
    )
    async def me(self, request: Request[Any, Any, State], users: NamedDependency[UserStore]) -> Any:
        """The caller (the service token answers as ``service``)."""
        principal = principal_of(request)
        if principal.kind == "service":
            return {"username": principal.username, "role": principal.role}
        return await users.get(principal.username)

    @post(
        "/password",
        opt={"role": "read"},
        status_code=200,
        summary="Change your own password",
        responses=declare(DetailOut, "Changed; every session of the user ended"),
    )
    async def change_password(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[PasswordChange],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Check the current password, set the new one, end every session of the user."""
        principal = principal_of(request)
        if principal.kind != "user":
            raise ClientException(detail="The service token has no password")
        if await users.verify(principal.username, data.current_password) is None:
            return detail_response(403, "Current password is wrong")
        try:
            await users.set_password(principal.username, data.new_password)
        except UserError as exc:
            raise _http(exc) from None
        await sessions.revoke_user(principal.username)
        return Response(
            {"detail": "Password changed; log in again"},
            cookies=[session_cookie(settings, "", 0)],
        )


class UsersController(Controller):
    """User management for admins."""

    path = "/api/admin/users"
    tags = ["admin"]
    opt = {"role": "admin"}

    @get("/", summary="List users")
    async def list_users(self, users: NamedDependency[UserStore]) -> list[User]:
        """Every user (no password hashes)."""
        return await users.list()

    @post("/", status_code=201, summary="Create a user")
    async def create_user(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[NewUser],
        users: NamedDependency[UserStore],
        link: NamedDependency[BusLink],
    ) -> User:
        """400 for a bad name, password or role; 409 when the name is taken."""
        try:
            user = await users.create(data.username, data.password, data.role)
        except UserError as exc:
            raise _http(exc) from None
        await audit_user_change(request, link, "create", user.username, role=user.role)
        return user

    @put("/{username:str}/role", summary="Change a user's role")
    async def set_role(
        self,
        request: Request[Any, Any, State],
        username: FromPath[str],
        data: JSONBody[RoleChange],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        link: NamedDependency[BusLink],
    ) -> User:
        """The user's sessions end, so the new role applies at once."""
        try:
            user = await users.set_role(username, data.role)
        except UserError as exc:
            raise _http(exc) from None
        await sessions.revoke_user(username)
        await audit_user_change(request, link, "set_role", username, role=user.role)
        return user

    @patch("/{key:str}", summary="Change a user's role (Kure dashboard, by id)")
    async def patch_role(
        self,
        request: Request[Any, Any, State],
        key: FromPath[str],
        data: JSONBody[RoleChange],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        link: NamedDependency[BusLink],
    ) -> User:
        """Kure's answers: 400 ``Invalid role`` / ``Cannot change your own role``, 404 ``User
        not found``, 409 ``Cannot demote the last admin``; the user's sessions end."""
        if data.role not in ROLES:
            raise HTTPException(status_code=400, detail="Invalid role")
        target = await users.resolve(key)
        if target is None:
            raise NotFoundException(detail="User not found")
        if target.username == principal_of(request).username:
            raise HTTPException(status_code=400, detail="Cannot change your own role")
        try:
            user = await users.set_role(target.username, data.role, "Cannot demote the last admin")
        except UserError as exc:
            raise _http(exc) from None
        await sessions.revoke_user(user.username)
        await audit_user_change(request, link, "set_role", user.username, role=user.role)
        return user

    @delete("/{key:str}", status_code=200, summary="Delete a user (by id or by name)")
    async def delete_user(
        self,
        request: Request[Any, Any, State],
        key: FromPath[str],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        link: NamedDependency[BusLink],
    ) -> dict[str, str]:
        """The last admin cannot be deleted (409); the user's sessions end.

        By id (the Kure dashboard) it answers as Kure's backend: ``{"message": "User
        deleted"}``, 400 ``Cannot delete yourself``, 404 ``User not found``. By name (the
        reference): ``{"detail": "User <name> deleted"}``.
        """
        by_id = is_id(key)
        if by_id:
            target = await users.resolve(key)
            if target is None:
                raise NotFoundException(detail="User not found")
            if target.username == principal_of(request).username:
                raise HTTPException(status_code=400, detail="Cannot delete yourself")
            username = target.username
        else:
            username = key
        try:
            await users.delete(username, "Cannot delete the last admin" if by_id else None)
        except UserError as exc:
            raise _http(exc) from None
        await sessions.revoke_user(username)
        await audit_user_change(request, link, "delete", username)
        if by_id:
            return {"message": "User deleted"}
        return {"detail": f"User {username} deleted"}
