"""The Kure dashboard's account routes: first-run setup and invitations.

Shapes, statuses and messages are those of Kure's backend (``backend/api/routes_auth.py``
and ``routes_users.py``): answers are 200 (not 201), bodies ``{"user": {...}}`` and
``{"detail": ...}``. Setup and invitation acceptance log the new user in (cookie
``kure_session``), as Kure's backend does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from kubeward.core.mongo import Document
from kubeward.gateway.accounts import audit_user_change, session_cookie
from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.invitations import Invitation, InvitationStore
from kubeward.gateway.params import path_id
from kubeward.gateway.sessions import SessionStore
from kubeward.gateway.settings import Settings
from kubeward.gateway.users import User, UserError, UserStore

INVITABLE = ("admin", "member", "write", "read")
MAX_HOURS = 1_000_000
"""About 114 years: any longer is ``null`` (never expires) in all but name."""
SETUP_LOCK = "first-admin"
"""A document in ``auth_counters`` that only the first setup can insert."""


class SetupIn(msgspec.Struct, kw_only=True):
    """``POST /api/auth/setup`` (the dashboard's Setup page)."""

    username: str
    password: str
    email: str | None = None


class AcceptIn(msgspec.Struct, kw_only=True):
    """``POST /api/auth/accept-invitation`` (the dashboard's invitation page)."""

    token: str
    username: str
    password: str
    email: str | None = None


class InvitationIn(msgspec.Struct, kw_only=True):
    """``POST /api/admin/invitations``; ``expires_in_hours: null`` never expires."""

    role: str
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=MAX_HOURS)] | None = 72


class CreatedInvitation(msgspec.Struct, kw_only=True):
    """The answer to a new invitation: the only time its token is shown."""

    id: int
    token: str
    role: str
    expires_at: str | None
    created_at: str
    invite_url_path: str


def public_user(user: User) -> dict[str, Any]:
    """Kure's public user (``routes_auth._public_user``)."""
    return {"id": user.id, "username": user.username, "email": user.email, "role": user.role}


def _logged_in(settings: Settings, body: dict[str, Any], cookie: str) -> Response[dict[str, Any]]:
    ttl = settings.session_ttl_seconds
    return Response(body, status_code=200, cookies=[session_cookie(settings, cookie, ttl)])


class KureAuthController(Controller):
    """Public routes of the dashboard's Setup and invitation pages."""

    path = "/api/auth"
    tags = ["auth"]
    opt = {"public": True}

    @get("/setup-required", summary="Whether the first admin must be created (Kure)")
    async def setup_required(self, users: NamedDependency[UserStore]) -> dict[str, bool]:
        """``{"setup_required": true}`` until a user exists."""
        return {"setup_required": not await users.any()}

    @post("/setup", status_code=200, summary="Create the first admin (Kure's Setup page)")
    async def setup(
        self,
        data: JSONBody[SetupIn],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
        auth_counters: NamedDependency[AsyncCollection[Document]],
    ) -> Response[dict[str, Any]]:
        """The first admin, logged in; 409 ``Setup already completed`` once a user exists."""
        if await users.any():
            raise HTTPException(status_code=409, detail="Setup already completed")
        try:
            await auth_counters.insert_one({"_id": SETUP_LOCK})
        except DuplicateKeyError:  # another setup got there first
            raise HTTPException(status_code=409, detail="Setup already completed") from None
        try:
            user = await users.create(data.username.strip(), data.password, "admin", data.email)
        except BaseException as exc:
            await auth_counters.delete_one({"_id": SETUP_LOCK})  # setup stays open
            if isinstance(exc, UserError):
                raise HTTPException(status_code=exc.status, detail=exc.detail) from None
            raise
        cookie = await sessions.create(user.username, user.role)
        return _logged_in(settings, {"user": public_user(user)}, cookie)

    @get("/invitation/{token:str}", summary="An invitation's role and expiry (Kure)")
    async def invitation(
        self, token: FromPath[str], invitations: NamedDependency[InvitationStore]
    ) -> dict[str, Any]:
        """404 unknown (or revoked), 410 used or expired."""
        stored = await invitations.find(token)
        if stored is None:
            raise NotFoundException(detail="Invitation not found")
        if stored.used_at is not None:
            raise HTTPException(status_code=410, detail="Invitation already used")
        if stored.expired(datetime.now(UTC)):
            raise HTTPException(status_code=410, detail="Invitation expired")
        return {"role": stored.invitation.role, "expires_at": stored.invitation.expires_at}

    @post("/accept-invitation", status_code=200, summary="Create an account from an invitation")
    async def accept(
        self,
        data: JSONBody[AcceptIn],
        invitations: NamedDependency[InvitationStore],
        users: NamedDependency[UserStore],
        sessions: NamedDependency[SessionStore],
        settings: NamedDependency[Settings],
    ) -> Response[dict[str, Any]]:
        """The new user has the invited role and is logged in; an invitation works once."""
        stored = await invitations.find(data.token)
        if stored is None:
            raise NotFoundException(detail="Invitation not found")
        if stored.used_at is not None or stored.open_until is None:
            raise HTTPException(status_code=410, detail="Invitation already used")
        if stored.expired(datetime.now(UTC)):
            raise HTTPException(status_code=410, detail="Invitation expired")
        role = stored.invitation.role
        try:
            user = await users.create(data.username.strip(), data.password, role, data.email)
        except UserError as exc:
            detail = "Username already taken" if exc.status == 409 else exc.detail
            raise HTTPException(status_code=exc.status, detail=detail) from None
        if not await invitations.use(stored, user.id):
            await users.remove(user.username)  # the invitation went to someone else first
            raise HTTPException(status_code=410, detail="Invitation already used")
        cookie = await sessions.create(user.username, user.role)
        return _logged_in(settings, {"user": public_user(user)}, cookie)


class InvitationsController(Controller):
    """Admin: invitation links (Kure's ``routes_users``)."""

    path = "/api/admin/invitations"
    tags = ["admin"]
    opt = {"role": "admin"}

    @post("/", status_code=200, summary="Create an invitation link")
    async def create(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[InvitationIn],
        users: NamedDependency[UserStore],
        invitations: NamedDependency[InvitationStore],
        link: NamedDependency[BusLink],
    ) -> CreatedInvitation:
        """The token appears only in this answer (only its hash is stored)."""
        if data.role not in INVITABLE:
            raise HTTPException(
                status_code=400,
                detail="Invitation role must be one of " + ", ".join(f"'{r}'" for r in INVITABLE),
            )
        actor = principal_of(request).username
        creator = await users.get(actor)
        inv, token = await invitations.create(
            data.role, data.expires_in_hours, creator.id if creator else None, actor
        )
        await audit_user_change(request, link, "invite", f"invitation-{inv.id}", role=inv.role)
        return CreatedInvitation(
            id=inv.id,
            token=token,
            role=inv.role,
            expires_at=inv.expires_at,
            created_at=inv.created_at,
            invite_url_path=f"/invite/{token}",
        )

    @get("/", summary="Open invitations (unused, unexpired), newest first")
    async def list_open(self, invitations: NamedDependency[InvitationStore]) -> list[Invitation]:
        """Without tokens: they are not stored."""
        return await invitations.list_open()

    @delete("/{invitation_id:str}", status_code=200, summary="Revoke an invitation")
    async def revoke(
        self, invitation_id: FromPath[str], invitations: NamedDependency[InvitationStore]
    ) -> dict[str, str]:
        """404 ``Invitation not found`` for an unknown id."""
        number = path_id(invitation_id, "Invitation not found")
        if not await invitations.revoke(number):
            raise NotFoundException(detail="Invitation not found")
        return {"message": "Invitation revoked"}
