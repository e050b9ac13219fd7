"""MongoDB access through pymongo's asyncio client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

Document = dict[str, Any]
T = TypeVar("T")

DUPLICATE_KEY = 11000
"""The server's error code for a write refused by a unique index."""
IN_CHUNK = 100
"""Values per ``$in`` list. SecantusDB matches each candidate against the whole list, so one
list of n values costs O(n²): 800 ids took 476 ms as one list and 89 ms as lists of 100;
5 000 took 17 s. MongoDB answers either shape in O(n)."""


def connect(url: str, *, retry_writes: bool = False) -> AsyncMongoClient[Document]:
    """A client for ``url``; it connects lazily and reconnects on its own.

    Writes are journaled (``j: true``) unless the URL says otherwise: a service acks a bus
    message or answers a request once its write returns, and a write that is only in the
    server's memory is lost when the server is killed (measured on SecantusDB: 4-25 of
    ~700 acknowledged updates gone after a ``kill -9``; none with ``j: true``). On MongoDB
    it waits for the journal's group commit, on SecantusDB for an fsync of its log; batched
    writes pay it once per batch.

    Writes are not retryable by default: the services' writes are idempotent by design (a
    failed batch is held or redelivered and absorbed once), and SecantusDB records every
    retryable write in a registry it scans, and at its cap sorts, on each write (up to
    10 000 entries kept for 30 minutes), which made each write cost more the more writes
    came before it.
    """
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": 5000,
        "tz_aware": False,
        "retryWrites": retry_writes,
    }
    if "journal=" not in url.lower():
        options["journal"] = True
    return AsyncMongoClient(url, **options)


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    """The service database ``name``."""
    return client[name]


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """True when the server answers ``ping``."""
    await client.admin.command("ping")
    return True


def chunks(values: Iterable[T]) -> Iterator[list[T]]:
    """``values`` in lists of at most :data:`IN_CHUNK`, for ``$in`` filters."""
    ordered = list(values)
    for first in range(0, len(ordered), IN_CHUNK):
        yield ordered[first : first + IN_CHUNK]


async def find_in(
    col: AsyncCollection[Document],
    field: str,
    values: Iterable[Any],
    projection: dict[str, int] | None = None,
    where: Document | None = None,
) -> AsyncIterator[Document]:
    """The documents of ``col`` whose ``field`` is one of ``values`` (and that match
    ``where``), read in ``$in`` lists of :data:`IN_CHUNK`: O(values) on SecantusDB too."""
    for chunk in chunks(values):
        async for doc in col.find({**(where or {}), field: {"$in": chunk}}, projection):
            yield doc


async def insert_new(col: AsyncCollection[Document], docs: list[Document]) -> set[int]:
    """Insert ``docs`` (unordered: one refused does not stop the others); return the
    positions of those a unique index refused (already stored). Any other write error
    raises."""
    if not docs:
        return set()
    try:
        await col.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = dict(exc.details).get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


async def ensure_counter(counters: AsyncCollection[Document], name: str) -> None:
    """Create the counter ``name`` (at 0) unless it exists."""
    with contextlib.suppress(DuplicateKeyError):
        await counters.insert_one({"_id": name, "seq": 0})


async def next_id(counters: AsyncCollection[Document], name: str) -> int:
    """The next integer of counter ``name`` (1, 2, ...), for APIs with integer ids."""
    return (await reserve_ids(counters, name, 1)).start


async def reserve_ids(counters: AsyncCollection[Document], name: str, count: int) -> range:
    """``count`` consecutive integers of counter ``name``, in one round trip.

    Two first-ever upserts of a counter can race: the loser (a duplicate key, or no
    document from some servers) simply tries again.
    """
    for _ in range(10):
        try:
            doc = await counters.find_one_and_update(
                {"_id": name},
                {"$inc": {"seq": count}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            continue
        if doc is not None:
            last = int(doc["seq"])
            return range(last - count + 1, last + 1)
    raise RuntimeError(f"could not allocate ids from counter {name!r}")
