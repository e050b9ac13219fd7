"""Change notifications of the admin-settings store (:mod:`kubeward.core.app_settings`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class SettingChange:
    """One applied change: ``value`` is the key's value from now on (its default when
    ``deleted``), ``revision`` the bucket revision that made it."""

    __slots__ = ("deleted", "key", "revision", "value")

    def __init__(self, key: str, value: Any, revision: int, deleted: bool = False) -> None:
        self.key = key
        self.value = value
        self.revision = revision
        self.deleted = deleted

    def __repr__(self) -> str:  # value reprs mask their secrets
        return (
            f"SettingChange(key={self.key!r}, value={self.value!r}, "
            f"revision={self.revision}, deleted={self.deleted})"
        )


ChangeCallback = Callable[[SettingChange], None]

_CLOSED = object()


class SettingsWatch:
    """Async iterator of :class:`SettingChange` (keys starting with ``prefix``).

    Changes queue up until read (settings change rarely, so the queue is unbounded). The
    iteration ends when the watch or its :class:`AppSettings` is closed. Also an async
    context manager that closes it on exit.
    """

    def __init__(self, prefix: str, on_close: Callable[[SettingsWatch], None]) -> None:
        self._prefix = prefix
        self._on_close = on_close
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False

    def offer(self, change: SettingChange) -> None:
        """Queue ``change`` if its key matches (called by the owner)."""
        if not self._closed and change.key.startswith(self._prefix):
            self._queue.put_nowait(change)

    def close(self) -> None:
        """Stop receiving; a pending or later ``__anext__`` ends the iteration."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSED)
            self._on_close(self)

    def __aiter__(self) -> SettingsWatch:
        return self

    async def __anext__(self) -> SettingChange:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # later calls end too
            raise StopAsyncIteration
        assert isinstance(item, SettingChange)
        return item

    async def next(self, timeout: float | None = None) -> SettingChange:
        """The next change, waiting at most ``timeout`` seconds (``TimeoutError``)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def __aenter__(self) -> SettingsWatch:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()
