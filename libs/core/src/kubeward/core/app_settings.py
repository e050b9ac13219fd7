"""Admin settings every service sees live: a generic typed store on a JetStream KV bucket.

One bucket (``kubeward-settings``) holds a JSON value per key. The store knows no domain
key: it is opened with a :class:`~kubeward.schemas.setting_key.KeyRegistry` of
:class:`~kubeward.schemas.setting_key.SettingKey` descriptors (the admin settings'
are :data:`kubeward.schemas.settings.KEYS`), each naming its value Struct, default,
validator and secret fields. Every :class:`AppSettings` instance watches the whole bucket
and keeps an in-memory copy, so reads are dictionary look-ups and a change made by any
process reaches all others within milliseconds, without a restart. Secret fields are
encrypted at rest with a key derived from the operator's secret
(:mod:`kubeward.core.secret_box`). Every change is recorded on the ``AUDIT`` stream with
the acting user and the value, masked.

:class:`AppSettings` is the facade: its lifecycle (the watch loop) and the public API,
composed from the bucket and its compare-and-set primitives
(:mod:`kubeward.core.settings_bucket`), the value codec
(:mod:`kubeward.core.settings_codec`) and the cache that reports changes
(:mod:`kubeward.core.settings_cache`).

Typical use::

    settings = await AppSettings.open(js, secret=os.environ["SETTINGS_SECRET"], keys=KEYS)
    ttl = settings.get(MIRROR_TTL).seconds
    await settings.set(MIRROR_TTL, MirrorTTL(seconds=300), actor="alice")
    await settings.apply(add_pattern(EXCLUDED_PODS, "test-*"), actor="alice")
    async with settings.watch() as changes:
        async for change in changes:
            handle(change)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from kubeward.core import audit
from kubeward.core.secret_box import SecretBox
from kubeward.core.settings_bucket import SettingsBucket, ensure_audit
from kubeward.core.settings_cache import SettingsCache
from kubeward.core.settings_codec import UNREADABLE, SettingsCodec, shown
from kubeward.core.settings_watch import ChangeCallback, SettingChange, SettingsWatch
from kubeward.schemas import bus
from kubeward.schemas.audit import AuditRecord
from kubeward.schemas.setting_key import (
    UNCHANGED,
    KeyRegistry,
    SettingEdit,
    SettingKey,
    Unchanged,
    UnknownSettingError,
)

__all__ = [
    "AUDIT_AREA",
    "BUCKET",
    "SYSTEM_ACTOR",
    "AppSettings",
    "ChangeCallback",
    "SettingChange",
    "SettingsConflictError",
    "SettingsWatch",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUCKET = bus.SETTINGS_BUCKET
AUDIT_AREA = "settings"
SYSTEM_ACTOR = "system"
_CAS_ATTEMPTS = 20
_RECONNECT_POLL = 0.5


class SettingsConflictError(RuntimeError):
    """A read-modify-write lost the race :data:`_CAS_ATTEMPTS` times in a row."""


class AppSettings:
    """The admin settings, cached and kept current by a watch on the KV bucket.

    Create with :meth:`open`; :meth:`close` (or ``async with``) when done. Reads never
    touch the network; writes go to the bucket, update this instance's cache at once
    (read-your-writes) and append an audit record. Invalid input raises
    :class:`~kubeward.schemas.setting_key.SettingValidationError` (a ``ValueError`` whose
    message names the key and field), a key outside the registry
    :class:`~kubeward.schemas.setting_key.UnknownSettingError`.
    """

    def __init__(
        self, js: JetStreamContext, bucket: SettingsBucket, codec: SettingsCodec, keys: KeyRegistry
    ) -> None:
        """Use :meth:`open`."""
        self._js = js
        self._bucket = bucket
        self._codec = codec
        self._keys = keys
        self._cache = SettingsCache()
        self._synced = asyncio.Event()
        self._closing = False
        self._watcher: Any = None
        self._task: asyncio.Task[None] | None = None

    # --- Lifecycle ---------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        secret: str,
        *,
        keys: KeyRegistry,
        old_secrets: Sequence[str] = (),
        bucket: str = BUCKET,
        history: int = 5,
        replicas: int = 3,
        sync_timeout: float = 10.0,
    ) -> AppSettings:
        """Bind (creating if needed) the bucket and the ``AUDIT`` stream, load every value
        and start watching. ``keys`` are the keys this store reads and writes (others in
        the bucket are ignored). ``secret`` (e.g. ``SETTINGS_SECRET``, at least 16
        characters) encrypts secrets; ``old_secrets`` still decrypt during a rotation.
        ``replicas`` (services pass their ``NATS_STREAM_REPLICAS``) is for the bucket and
        the ``AUDIT`` stream; each falls back to 1 when the server is not clustered (or
        too small).
        """
        box = await asyncio.to_thread(SecretBox, secret, old_secrets)
        bound = await SettingsBucket.bind(js, bucket, history, replicas)
        await ensure_audit(js, replicas)
        self = cls(js, bound, SettingsCodec(box), keys)
        await self._start(sync_timeout)
        return self

    async def _start(self, sync_timeout: float) -> None:
        # nats-py's KV watch, not FastStream's ``kv_watch`` subscriber: that one drops the
        # end-of-initial-values marker (so a service could not wait until its copy is
        # complete before serving), never starts afresh after a reconnect (values stay
        # stale until the ordered consumer misses heartbeats, 10-20 s), and needs a broker,
        # which the gateway, sharing this store, does not run.
        self._watcher = await self._bucket.watchall()
        self._task = asyncio.create_task(self._run(), name=f"settings-watch-{self._bucket.name}")
        try:
            await asyncio.wait_for(self._synced.wait(), sync_timeout)
        except TimeoutError:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop watching; iterators from :meth:`watch` end."""
        self._closing = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._cache.close_watches()

    async def __aenter__(self) -> AppSettings:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def is_healthy(self) -> bool:
        """Health check: the initial load finished and the watch is running."""
        return self._synced.is_set() and self._task is not None and not self._task.done()

    async def _run(self) -> None:
        """Apply every update of the bucket; re-create the watch when it fails or the
        connection was re-established (see :meth:`_watch_reconnects`)."""
        delay = 0.5
        monitor = asyncio.create_task(self._watch_reconnects())
        try:
            while not self._closing:
                try:
                    if self._watcher is None:
                        self._watcher = await self._bucket.watchall()
                    async for entry in self._watcher:
                        delay = 0.5
                        if entry is None:  # end of the initial values
                            self._synced.set()
                            continue
                        self._apply_entry(entry)
                    self._watcher = None  # stopped: by close(), or to start afresh
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("settings watch failed; restarting in %.1fs", delay)
                    self._watcher = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            monitor.cancel()

    async def _watch_reconnects(self) -> None:
        """After a reconnect, start the watch afresh instead of waiting for the ordered
        consumer to notice missed heartbeats (10-20 s). Replayed values are skipped by
        revision, so only real changes are reported."""
        nc = self._js._nc
        seen = nc.stats["reconnects"]
        while not self._closing:
            await asyncio.sleep(_RECONNECT_POLL)
            now = nc.stats["reconnects"]
            if now != seen and nc.is_connected:
                seen = now
                log.info("NATS reconnected; restarting the settings watch")
                watcher = self._watcher
                if watcher is not None:
                    with contextlib.suppress(Exception):
                        await watcher.stop()

    def _apply_entry(self, entry: KeyValue.Entry) -> None:
        name, revision = str(entry.key), entry.revision or 0
        key = self._keys.get(name)
        if key is None:
            log.debug("ignoring unknown settings key %r", name)
            return
        if entry.operation in ("DEL", "PURGE"):
            self._cache.apply(key, revision, None)
            return
        try:
            value = self._codec.decode(key, entry.value or b"")
        except UNREADABLE as exc:
            self._cache.apply(key, revision, None, f"stored value unreadable: {exc}")
            return
        self._cache.apply(key, revision, value)

    # --- Live changes ------------------------------------------------------------------

    def watch(self, prefix: str = "") -> SettingsWatch:
        """An async iterator of :class:`SettingChange` for keys starting with ``prefix``.

        Use as ``async with settings.watch() as changes: async for c in changes: ...``;
        it sees every change applied after this call (this process's own included).
        """
        return self._cache.watch(prefix)

    def on_change(self, callback: ChangeCallback, prefix: str = "") -> Callable[[], None]:
        """Call ``callback(change)`` (synchronously; keep it quick) on each change of a key
        starting with ``prefix``. Returns a function that unregisters it.
        """
        return self._cache.on_change(callback, prefix)

    # --- Reading -----------------------------------------------------------------------

    def key(self, name: str) -> SettingKey[Any]:
        """The registered key called ``name``; :class:`UnknownSettingError` otherwise."""
        return self._keys[name]

    def _known(self, key: SettingKey[T]) -> SettingKey[T]:
        if self._keys.get(key.name) is not key:
            raise UnknownSettingError(key.name)
        return key

    def get(self, key: SettingKey[T]) -> T:
        """The current value of ``key``: its typed value, or the key's default when unset
        (``None`` for a key without one). Secrets in clear: not for an answer."""
        try:
            value: T = self._cache.value(key.name)
        except KeyError:
            return self._known(key).default
        return value

    def is_set(self, key: SettingKey[Any]) -> bool:
        """Whether ``key`` holds a readable value (rather than its default)."""
        return self._cache.has(self._known(key).name)

    def problems(self) -> dict[str, str]:
        """Keys whose stored value could not be read (e.g. the secret changed), and why.
        Those keys read as their defaults; a status endpoint can show this."""
        return self._cache.problems()

    def masked(self, key: SettingKey[T]) -> T:
        """:meth:`get` with secrets masked: what an API response may show."""
        return key.masked(self.get(key))

    def masked_snapshot(self) -> dict[str, Any]:
        """Every key's current value as JSON-ready builtins, secrets masked."""
        return {name: shown(key, self.get(key)) for name, key in self._keys.items()}

    async def refresh(self, key: SettingKey[Any]) -> None:
        """Read ``key`` from the bucket now instead of waiting for the watch to deliver it:
        after another process's write, this instance reads that value (or a newer one)."""
        value, present, revision = await self._read(self._known(key))
        if revision:
            self._cache.apply(key, revision, value if present else None)

    async def _read(self, key: SettingKey[Any]) -> tuple[Any, bool, int]:
        """(typed value or ``None``, whether a value is present, last revision or 0)."""
        data, revision = await self._bucket.read(key.name)
        if data is None:
            return None, False, revision
        try:
            value = self._codec.decode(key, data)
        except UNREADABLE:
            value = None  # present but unreadable: a write replaces it
        return value, True, revision

    # --- Writing -----------------------------------------------------------------------

    async def set(self, key: SettingKey[T], value: object, *, actor: str = SYSTEM_ACTOR) -> T:
        """Validate and store ``value`` (a Struct or JSON-like builtins) under ``key``;
        returns the stored (normalised) value. Audited as ``set`` with the masked value."""
        typed = self._known(key).validate(value)
        revision = await self._bucket.put(key.name, self._codec.encode(key, typed))
        self._cache.apply(key, revision, typed)
        await self._audit("set", key.name, actor, revision, {"value": shown(key, typed)})
        return typed

    async def modify(
        self,
        key: SettingKey[T],
        change: Callable[[T], T | Unchanged],
        *,
        actor: str = SYSTEM_ACTOR,
        action: str = "set",
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Read ``key`` from the bucket, compute ``change(current)`` (the default when
        unset or unreadable) and write the result only if nobody wrote in between
        (retrying on a lost race, so ``change`` may run more than once).

        ``change`` returns the new value or :data:`UNCHANGED`. Returns whether it
        changed; a change is audited as ``action`` with ``details`` (the masked new value
        when ``None``).
        """
        self._known(key)

        def step(current: Any, present: bool) -> Any:
            return change(current if present and current is not None else key.default)

        changed, new = await self._modify(key, step)
        if changed:
            recorded = {"value": shown(key, new)} if details is None else dict(details)
            await self._audit(action, key.name, actor, self._cache.revision(key.name), recorded)
        return changed

    async def apply(self, edit: SettingEdit[Any], *, actor: str = SYSTEM_ACTOR) -> bool:
        """Run an edit described as data (:class:`SettingEdit`): :meth:`modify` with its
        change, action and details."""
        return await self.modify(
            edit.key, edit.change, actor=actor, action=edit.action, details=edit.details
        )

    async def delete(self, key: SettingKey[Any], *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove ``key`` (it reads as its default again); ``False`` when it was not set."""
        self._known(key)

        def drop(_current: Any, present: bool) -> Any:
            return _DELETE if present else UNCHANGED

        changed, _ = await self._modify(key, drop)
        if changed:
            await self._audit("delete", key.name, actor, self._cache.revision(key.name), {})
        return changed

    async def _modify(
        self, key: SettingKey[Any], change: Callable[[Any, bool], Any]
    ) -> tuple[bool, Any]:
        """Read ``key`` from the bucket, compute ``change(current, present)`` and write it
        only if nobody wrote in between (retrying on a lost race). ``change`` returns the
        new value, :data:`_DELETE` or :data:`UNCHANGED`. Returns (changed, new value)."""
        name = key.name
        for _ in range(_CAS_ATTEMPTS):
            current, present, last = await self._read(key)
            new = change(current, present)
            if new is UNCHANGED:
                return False, current
            try:
                if new is _DELETE:
                    revision = await self._bucket.delete(name, last)
                    self._cache.apply(key, revision, None)
                    return True, None
                typed = key.validate(new)
                revision = await self._bucket.update(name, self._codec.encode(key, typed), last)
            except KeyWrongLastSequenceError:
                continue
            self._cache.apply(key, revision, typed)
            return True, typed
        raise SettingsConflictError(f"{name}: too many concurrent changes, try again")

    # --- Audit -------------------------------------------------------------------------

    async def audit_log(self, limit: int = 100, before: int = 0) -> list[AuditRecord]:
        """The newest audit records of every area (newest first); see
        :func:`kubeward.core.audit.read_audit`."""
        return await audit.read_audit(self._js, limit, before)

    async def _audit(
        self, action: str, key: str, actor: str, revision: int, details: dict[str, Any]
    ) -> None:
        record = AuditRecord(
            actor=actor,
            action=action,
            key=key,
            at=audit.now(),
            details={**details, "revision": revision},
        )
        await audit.publish_audit(
            self._js, AUDIT_AREA, record, msg_id=f"{self._bucket.name}-{key}-{revision}"
        )


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_DELETE = _Marker("DELETE")
