"""Invitations to create a dashboard account, in the gateway's ``invitations`` collection.

An invitation is a random token (shown once, when it is created) whose SHA-256 is the
document's ``_id``: only the hash is stored, and looking a token up is one indexed read.
Each invitation also has an integer ``id`` (unique index; the admin revokes by id) and,
while it can still be used, ``open_until`` (epoch seconds; :data:`NEVER` for invitations
that do not expire), indexed so the list of open invitations is a bounded range read.
Accepting one removes ``open_until`` in the same update that records the use, on the
condition that it is still there: an invitation is used at most once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import mongo
from kubeward.core.mongo import Document

COLLECTION = "invitations"
NEVER = 2.0**53
"""``open_until`` of an invitation without expiry."""
TOKEN_BYTES = 32


class Invitation(msgspec.Struct, kw_only=True):
    """An invitation as the admin list shows it (Kure's shape, without the token)."""

    id: int
    role: str
    expires_at: str | None
    created_at: str
    created_by: int | None
    created_by_username: str | None = None


class StoredInvitation(msgspec.Struct, kw_only=True):
    """An invitation with what accepting it needs to know."""

    invitation: Invitation
    token_hash: str
    open_until: float | None
    used_at: str | None

    def expired(self, now: datetime) -> bool:
        """Whether its expiry has passed."""
        expires = self.invitation.expires_at
        return expires is not None and datetime.fromisoformat(expires) < now


def token_hash(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _invitation(doc: dict[str, Any]) -> Invitation:
    return Invitation(
        id=int(doc["id"]),
        role=doc["role"],
        expires_at=doc.get("expires_at"),
        created_at=doc["created_at"],
        created_by=doc.get("created_by"),
        created_by_username=doc.get("created_by_username"),
    )


def _stored(doc: dict[str, Any]) -> StoredInvitation:
    return StoredInvitation(
        invitation=_invitation(doc),
        token_hash=doc["_id"],
        open_until=doc.get("open_until"),
        used_at=doc.get("used_at"),
    )


class InvitationStore:
    """Create, find, list, use and revoke invitations."""

    def __init__(
        self, collection: AsyncCollection[Document], counters: AsyncCollection[Document]
    ) -> None:
        self._col = collection
        self._counters = counters

    async def ensure(self) -> None:
        """Create the indexes (start-up)."""
        await self._col.create_index("id", unique=True)
        await self._col.create_index("open_until")

    async def create(
        self,
        role: str,
        expires_in_hours: int | None,
        created_by: int | None,
        created_by_username: str | None,
    ) -> tuple[Invitation, str]:
        """A new invitation and its token (the only time the token exists in clear)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = datetime.now(UTC)
        expires = None if expires_in_hours is None else now + timedelta(hours=expires_in_hours)
        doc: Document = {
            "_id": token_hash(token),
            "id": await mongo.next_id(self._counters, COLLECTION),
            "role": role,
            "created_at": now.isoformat(),
            "expires_at": None if expires is None else expires.isoformat(),
            "open_until": NEVER if expires is None else expires.timestamp(),
            "created_by": created_by,
            "created_by_username": created_by_username,
            "used_at": None,
            "used_by": None,
        }
        await self._col.insert_one(doc)
        return _invitation(doc), token

    async def find(self, token: str) -> StoredInvitation | None:
        """The invitation of ``token`` (used or not), or ``None``."""
        doc = await self._col.find_one({"_id": token_hash(token)})
        return None if doc is None else _stored(doc)

    async def list_open(self) -> list[Invitation]:
        """Unused, unexpired invitations, newest first."""
        now = datetime.now(UTC).timestamp()
        cursor = self._col.find({"open_until": {"$gt": now, "$lte": NEVER}})
        found = [_invitation(doc) async for doc in cursor]
        return sorted(found, key=lambda inv: inv.created_at, reverse=True)

    async def use(self, stored: StoredInvitation, user_id: int) -> bool:
        """Record the use; ``False`` when someone else used (or revoked) it first."""
        result = await self._col.update_one(
            {"_id": stored.token_hash, "open_until": stored.open_until},
            {
                "$set": {"used_at": datetime.now(UTC).isoformat(), "used_by": user_id},
                "$unset": {"open_until": ""},
            },
        )
        return result.modified_count == 1

    async def revoke(self, invitation_id: int) -> bool:
        """Delete an invitation; ``False`` when there is none with that id."""
        result = await self._col.delete_one({"id": invitation_id})
        return result.deleted_count == 1
