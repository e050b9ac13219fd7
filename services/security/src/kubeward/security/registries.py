"""Trusted registries (collection ``security_settings``, document ``trusted_registries``).

Starts as the scanner's built-in list; admins add and remove entries. An entry is a
registry host (``ghcr.io``) or a repository prefix (``ghcr.io/acme``).

The scanner reads the list through :meth:`Registries.current`, kept for
:data:`SHARED_TTL_SECONDS`: every failed pod's scan used to read it from MongoDB. A change
made through this process is seen at once; one made through another replica within that
time (and the rescan it starts covers the rest).
"""

from __future__ import annotations

import contextlib
import re

from async_lru import alru_cache
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kubeward.core.mongo import Document
from kubeward.security.scanner import DEFAULT_TRUSTED_REGISTRIES

COLLECTION = "security_settings"
DOC_ID = "trusted_registries"
SHARED_TTL_SECONDS = 5.0
"""How long the scanner may use the list before reading it again."""
_ENTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")


def normalise(registry: str) -> str:
    """A registry entry in canonical form; ``ValueError`` when it cannot be one."""
    entry = registry.strip().lower().removeprefix("https://").removeprefix("http://")
    entry = entry.rstrip("/")
    if not entry or len(entry) > 253 or not _ENTRY.match(entry):
        raise ValueError(
            f"registry: {registry!r} is not a registry host or repository prefix "
            "(e.g. ghcr.io or ghcr.io/acme)"
        )
    return entry


class Registries:
    """The trusted-registry list, shared by every replica through MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col: AsyncCollection[Document] = db[COLLECTION]

    async def ensure(self) -> None:
        """Start from the built-in list unless a list is stored."""
        with contextlib.suppress(DuplicateKeyError):
            await self._col.insert_one(
                {"_id": DOC_ID, "registries": list(DEFAULT_TRUSTED_REGISTRIES)}
            )

    async def load(self) -> list[str]:
        """The current list."""
        doc = await self._col.find_one({"_id": DOC_ID})
        return list(doc["registries"]) if doc else list(DEFAULT_TRUSTED_REGISTRIES)

    @alru_cache(maxsize=1, ttl=SHARED_TTL_SECONDS)
    async def current(self) -> tuple[str, ...]:
        """The list as the scanner uses it: :meth:`load`, at most
        :data:`SHARED_TTL_SECONDS` old."""
        return tuple(await self.load())

    async def add(self, registry: str) -> bool:
        """Trust ``registry`` (already normalised); False when it already was."""
        await self.ensure()
        result = await self._col.update_one(
            {"_id": DOC_ID}, {"$addToSet": {"registries": registry}}
        )
        self.current.cache_clear()
        return result.modified_count > 0

    async def remove(self, registry: str) -> bool:
        """Stop trusting ``registry``; False when it was not trusted."""
        await self.ensure()
        result = await self._col.update_one({"_id": DOC_ID}, {"$pull": {"registries": registry}})
        self.current.cache_clear()
        return result.modified_count > 0
