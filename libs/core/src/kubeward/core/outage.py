"""Errors that mean a dependency is away for now, not that the work is bad.

A batch that fails with one of these is held and retried until the dependency is back
(:class:`kubeward.core.settlement.BatchConsumer`), rather than handed back to the server: every
redelivery counts towards ``max_deliver``, and a database restart of a minute would
otherwise dead-letter good messages.
"""

from __future__ import annotations

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
    RedisConnectionError,
    RedisTimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says a dependency is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
