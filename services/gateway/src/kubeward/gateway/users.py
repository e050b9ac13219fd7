"""Dashboard users: argon2-hashed passwords and roles, in the gateway's ``users`` collection.

The gateway owns this collection (authentication data, not domain data) and the
``auth_counters`` collection its integer ids come from. A user document is keyed by its
name (``_id``) and carries a stable integer ``id`` (unique index) for the Kure dashboard,
which addresses users by id.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from kubeward.core import mongo
from kubeward.core.mongo import Document

COLLECTION = "users"
COUNTERS = "auth_counters"
"""The gateway's id counters (users, invitations)."""
Role = Literal["read", "write", "admin", "member"]
ROLES: tuple[Role, ...] = ("read", "write", "admin", "member")
RANK: dict[str, int] = {"read": 0, "write": 1, "member": 1, "admin": 2}
"""``member`` is Kure's name for a user who may change things but not administer: ``write``."""
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


class User(msgspec.Struct, kw_only=True):
    """A user as the API shows it (never with the hash)."""

    id: int
    """Stable integer id (the Kure dashboard's ``/api/admin/users/{id}``)."""
    username: str
    email: str | None = None
    role: Role
    created_at: str
    updated_at: str


class UserError(ValueError):
    """A request about users that cannot be honoured; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


MAX_ID_DIGITS = 18
"""Longer digit strings cannot be an id (MongoDB integers are 64-bit)."""


def is_id(key: str) -> bool:
    """Whether a path segment is an integer id rather than a name (ASCII digits only)."""
    return key.isascii() and key.isdigit()


def check_username(username: str) -> str:
    """``username`` if acceptable, else ``UserError`` 400."""
    if not _USERNAME.fullmatch(username):
        raise UserError(400, "username: 1-64 characters of letters, digits, '.', '_', '@', '-'")
    if is_id(username):
        # /api/admin/users/{key} takes an id or a name: an all-digit name would be ambiguous.
        raise UserError(400, "username: must not be all digits")
    return username


def check_password(password: str) -> str:
    """``password`` if acceptable, else ``UserError`` 400."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(400, f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> Role:
    """``role`` if it is one of ``read``, ``write``, ``admin``, else ``UserError`` 400."""
    for known in ROLES:
        if role == known:
            return known
    raise UserError(400, f"role: {role!r} is not one of {', '.join(ROLES)}")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(doc: dict[str, Any]) -> User:
    return User(
        id=int(doc.get("id", 0)),
        username=doc["_id"],
        email=doc.get("email"),
        role=doc["role"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class UserStore:
    """Users with argon2id password hashes (hashing runs off the event loop)."""

    def __init__(
        self, collection: AsyncCollection[Document], counters: AsyncCollection[Document]
    ) -> None:
        self._col = collection
        self._counters = counters
        self._hasher = PasswordHasher()
        # Verifying against this keeps unknown-user logins as slow as wrong passwords.
        self._dummy_hash = self._hasher.hash("kubeward-timing-equaliser")

    async def ensure(self) -> None:
        """Give users stored before ids existed an id, then index ``id`` (start-up).

        The scan of id-less users happens once (users are few; later starts find none).
        Two replicas starting together may both try: the first write per user wins.
        """
        async for doc in self._col.find({"id": {"$exists": False}}, {"_id": 1}):
            new_id = await mongo.next_id(self._counters, COLLECTION)
            await self._col.update_one(
                {"_id": doc["_id"], "id": {"$exists": False}}, {"$set": {"id": new_id}}
            )
        await self._col.create_index("id", unique=True)

    async def count(self) -> int:
        """How many users exist."""
        return await self._col.count_documents({})

    async def any(self) -> bool:
        """Whether at least one user exists (one indexed read)."""
        return await self._col.find_one({}, {"_id": 1}) is not None

    async def create(
        self, username: str, password: str, role: str, email: str | None = None
    ) -> User:
        """Create a user; ``UserError`` 400 for bad input, 409 when the name is taken."""
        now = _now()
        doc: Document = {
            "_id": check_username(username),
            "password_hash": await asyncio.to_thread(self._hasher.hash, check_password(password)),
            "role": check_role(role),
            "created_at": now,
            "updated_at": now,
        }
        if email:
            doc["email"] = email[:255]
        doc["id"] = await mongo.next_id(self._counters, COLLECTION)
        try:
            await self._col.insert_one(doc)
        except DuplicateKeyError:
            raise UserError(409, f"User {username} already exists") from None
        return _user(doc)

    async def verify(self, username: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else ``None`` (same cost either way)."""
        doc = await self._col.find_one({"_id": username})
        stored = doc["password_hash"] if doc else self._dummy_hash
        try:
            await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return _user(doc) if doc else None

    async def get(self, username: str) -> User | None:
        """One user, or ``None``."""
        doc = await self._col.find_one({"_id": username})
        return _user(doc) if doc else None

    async def get_by_id(self, user_id: int) -> User | None:
        """One user by its integer id, or ``None``."""
        doc = await self._col.find_one({"id": user_id})
        return _user(doc) if doc else None

    async def resolve(self, key: str) -> User | None:
        """The user a path segment names: an id when all digits, else a name."""
        if is_id(key):
            return await self.get_by_id(int(key)) if len(key) <= MAX_ID_DIGITS else None
        return await self.get(key)

    async def list(self) -> list[User]:
        """Every user, by name."""
        return [_user(d) async for d in self._col.find({}).sort("_id", 1)]

    async def set_role(
        self, username: str, role: str, last_admin: str = "The last admin cannot be demoted"
    ) -> User:
        """Change a role; the last admin cannot be demoted (``UserError`` 409 ``last_admin``)."""
        new_role = check_role(role)
        current = await self._require(username)
        if current.role == "admin" and new_role != "admin" and await self._admins() == 1:
            raise UserError(409, last_admin)
        await self._col.update_one(
            {"_id": username}, {"$set": {"role": new_role, "updated_at": _now()}}
        )
        return await self._require(username)

    async def set_password(self, username: str, password: str) -> None:
        """Replace a password."""
        await self._require(username)
        digest = await asyncio.to_thread(self._hasher.hash, check_password(password))
        await self._col.update_one(
            {"_id": username}, {"$set": {"password_hash": digest, "updated_at": _now()}}
        )

    async def delete(self, username: str, last_admin: str | None = None) -> None:
        """Delete a user; the last admin cannot be deleted (``UserError`` 409 ``last_admin``)."""
        current = await self._require(username)
        if current.role == "admin" and await self._admins() == 1:
            raise UserError(409, last_admin or "The last admin cannot be deleted")
        await self._col.delete_one({"_id": username})

    async def remove(self, username: str) -> None:
        """Delete a user without checks (undoing a creation that lost a race)."""
        await self._col.delete_one({"_id": username})

    async def _admins(self) -> int:
        return await self._col.count_documents({"role": "admin"})

    async def _require(self, username: str) -> User:
        user = await self.get(username)
        if user is None:
            raise UserError(404, f"User {username} not found")
        return user
