"""MongoDB access through pymongo's asyncio client."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


def connect(url: str) -> AsyncMongoClient[Document]:
    """A client for ``url``; it connects lazily and reconnects on its own."""
    return AsyncMongoClient(url, serverSelectionTimeoutMS=5000, tz_aware=False)


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    """The service database ``name``."""
    return client[name]


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """True when the server answers ``ping``."""
    await client.admin.command("ping")
    return True
