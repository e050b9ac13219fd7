"""The in-memory copy of the admin settings and who hears of its changes.

:class:`SettingsCache` holds each key's value, the bucket revision it came from and why a
stored value could not be read. :meth:`SettingsCache.apply` takes a value only when its
revision is newer than the one held, so the watch, a write's own result and a refresh may
deliver revisions in any order: an older one never overwrites a newer, and each change is
reported once, to every :class:`~kubeward.core.settings_watch.SettingsWatch` and
``on_change`` callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubeward.core.settings_watch import ChangeCallback, SettingChange, SettingsWatch
from kubeward.schemas.setting_key import SettingKey

log = logging.getLogger(__name__)


class SettingsCache:
    """Values by key name, with their revisions and read problems; see the module."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._revisions: dict[str, int] = {}
        self._problems: dict[str, str] = {}
        self._watches: set[SettingsWatch] = set()
        self._callbacks: list[tuple[str, ChangeCallback]] = []

    def value(self, name: str) -> Any:
        """The cached value of ``name``; ``KeyError`` when it is unset or unreadable."""
        return self._values[name]

    def has(self, name: str) -> bool:
        """Whether ``name`` holds a readable value."""
        return name in self._values

    def revision(self, name: str) -> int:
        """The revision the cached state of ``name`` came from (0: none seen)."""
        return self._revisions.get(name, 0)

    def problems(self) -> dict[str, str]:
        """Key names whose stored value could not be read, and why (a copy)."""
        return dict(self._problems)

    def apply(
        self, key: SettingKey[Any], revision: int, value: Any, problem: str | None = None
    ) -> None:
        """Cache ``value`` (``None``: absent) at ``revision`` unless something newer is there."""
        name = key.name
        if revision <= self._revisions.get(name, 0):
            return
        self._revisions[name] = revision
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value
        if problem is None:
            self._problems.pop(name, None)
        else:
            self._problems[name] = problem
            log.error("settings key %s: %s; using the default", name, problem)
        change = SettingChange(name, self._values.get(name, key.default), revision, value is None)
        for w in list(self._watches):
            w.offer(change)
        for prefix, callback in list(self._callbacks):
            if name.startswith(prefix):
                try:
                    callback(change)
                except Exception:
                    log.exception("settings change callback failed for %s", name)

    def watch(self, prefix: str = "") -> SettingsWatch:
        """A :class:`SettingsWatch` of every change applied from now on to a key starting
        with ``prefix``."""
        w = SettingsWatch(prefix, self._watches.discard)
        self._watches.add(w)
        return w

    def on_change(self, callback: ChangeCallback, prefix: str = "") -> Callable[[], None]:
        """Call ``callback(change)`` on each change of a key starting with ``prefix``;
        returns a function that unregisters it."""
        item = (prefix, callback)
        self._callbacks.append(item)
        return lambda: self._callbacks.remove(item) if item in self._callbacks else None

    def close_watches(self) -> None:
        """End every watch's iteration."""
        for w in list(self._watches):
            w.close()
