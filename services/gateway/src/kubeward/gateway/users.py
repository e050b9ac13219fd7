"""Dashboard users: argon2-hashed passwords and roles, in the gateway's ``users`` collection.

The gateway owns this collection (authentication data, not domain data).
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

from kubeward.core.mongo import Document

COLLECTION = "users"
Role = Literal["read", "write", "admin"]
ROLES: tuple[Role, ...] = ("read", "write", "admin")
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


class User(msgspec.Struct, kw_only=True):
    """A user as the API shows it (never with the hash)."""

    username: str
    role: Role
    created_at: str
    updated_at: str


class UserError(ValueError):
    """A request about users that cannot be honoured; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def check_username(username: str) -> str:
    """``username`` if acceptable, else ``UserError`` 400."""
    if not _USERNAME.fullmatch(username):
        raise UserError(400, "username: 1-64 characters of letters, digits, '.', '_', '@', '-'")
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
        username=doc["_id"],
        role=doc["role"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class UserStore:
    """Users with argon2id password hashes (hashing runs off the event loop)."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._col = collection
        self._hasher = PasswordHasher()
        # Verifying against this keeps unknown-user logins as slow as wrong passwords.
        self._dummy_hash = self._hasher.hash("kubeward-timing-equaliser")

    async def count(self) -> int:
        """How many users exist."""
        return await self._col.count_documents({})

    async def create(self, username: str, password: str, role: str) -> User:
        """Create a user; ``UserError`` 400 for bad input, 409 when the name is taken."""
        now = _now()
        doc = {
            "_id": check_username(username),
            "password_hash": await asyncio.to_thread(self._hasher.hash, check_password(password)),
            "role": check_role(role),
            "created_at": now,
            "updated_at": now,
        }
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

    async def list(self) -> list[User]:
        """Every user, by name."""
        return [_user(d) async for d in self._col.find({}).sort("_id", 1)]

    async def set_role(self, username: str, role: str) -> User:
        """Change a role; the last admin cannot be demoted (``UserError`` 409)."""
        new_role = check_role(role)
        current = await self._require(username)
        if current.role == "admin" and new_role != "admin" and await self._admins() == 1:
            raise UserError(409, "The last admin cannot be demoted")
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

    async def delete(self, username: str) -> None:
        """Delete a user; the last admin cannot be deleted (``UserError`` 409)."""
        current = await self._require(username)
        if current.role == "admin" and await self._admins() == 1:
            raise UserError(409, "The last admin cannot be deleted")
        await self._col.delete_one({"_id": username})

    async def _admins(self) -> int:
        return await self._col.count_documents({"role": "admin"})

    async def _require(self, username: str) -> User:
        user = await self.get(username)
        if user is None:
            raise UserError(404, f"User {username} not found")
        return user
