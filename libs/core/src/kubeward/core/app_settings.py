"""Admin settings every service sees live: a typed store on a JetStream Key-Value bucket.

One bucket (``kubeward-settings``) holds a JSON value per key (see
:mod:`kubeward.core.settings_values` for the keys and types). Every :class:`AppSettings`
instance watches the whole bucket and keeps an in-memory copy, so reads are dictionary
look-ups and a change made by any process reaches all others within milliseconds, without
a restart. Secrets (the LLM API key, webhook URLs) are encrypted at rest with a key
derived from the operator's secret (:mod:`kubeward.core.secret_box`). Every change is
recorded on the ``AUDIT`` stream with the acting user and the value, masked.

Typical use::

    settings = await AppSettings.open(js, secret=os.environ["SETTINGS_SECRET"])
    ttl = settings.mirror_ttl_seconds()
    await settings.set_mirror_ttl(300, actor="alice")
    async with settings.watch() as changes:
        async for change in changes:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from kubeward.core import audit
from kubeward.core.secret_box import SecretBox, SecretBoxError
from kubeward.core.settings_values import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    EXCLUDED_RULES,
    HISTORY_RETENTION,
    IGNORED_RETENTION,
    KEYS,
    LLM_CONFIG,
    MIRROR_TTL,
    PROVIDERS,
    LLMConfig,
    MirrorTTL,
    NotificationSetting,
    Patterns,
    Provider,
    Retention,
    RuleExclusion,
    RuleExclusions,
    WebhookConfig,
    check_pattern,
    check_rule,
    is_excluded,
    is_rule_excluded,
    masked,
    notification_key,
    reference_key,
    reference_scalar,
    reference_value,
    spec_of,
    validate,
)
from kubeward.core.settings_watch import ChangeCallback, SettingChange, SettingsWatch
from kubeward.schemas import bus
from kubeward.schemas.audit import AuditRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

BUCKET = bus.SETTINGS_BUCKET
AUDIT_AREA = "settings"
SYSTEM_ACTOR = "system"
_KV_OP = "KV-Operation"
_EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_CODES = (10071, 10164)
_CAS_ATTEMPTS = 20
_RECONNECT_POLL = 0.5


class SettingsConflictError(RuntimeError):
    """A read-modify-write lost the race :data:`_CAS_ATTEMPTS` times in a row."""


class AppSettings:
    """The admin settings, cached and kept current by a watch on the KV bucket.

    Create with :meth:`open`; :meth:`close` (or ``async with``) when done. Getters never
    touch the network; setters write to the bucket, update this instance's cache at once
    (read-your-writes) and append an audit record. Invalid input raises
    :class:`~kubeward.core.settings_values.SettingValidationError` (a ``ValueError`` whose
    message names the key and field), unknown keys
    :class:`~kubeward.core.settings_values.UnknownSettingError`.
    """

    def __init__(self, js: JetStreamContext, kv: KeyValue, box: SecretBox, bucket: str) -> None:
        """Use :meth:`open`."""
        self._js = js
        self._kv = kv
        self._box = box
        self._bucket = bucket
        self._values: dict[str, Any] = {}
        self._revisions: dict[str, int] = {}
        self._problems: dict[str, str] = {}
        self._watches: set[SettingsWatch] = set()
        self._callbacks: list[tuple[str, ChangeCallback]] = []
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
        old_secrets: Sequence[str] = (),
        bucket: str = BUCKET,
        history: int = 5,
        replicas: int = 3,
        sync_timeout: float = 10.0,
    ) -> AppSettings:
        """Bind (creating if needed) the bucket and the ``AUDIT`` stream, load every value
        and start watching. ``secret`` (e.g. ``SETTINGS_SECRET``, at least 16 characters)
        encrypts secrets; ``old_secrets`` still decrypt during a rotation. ``replicas``
        (services pass their ``NATS_STREAM_REPLICAS``) is for the bucket and the ``AUDIT``
        stream; each falls back to 1 when the server is not clustered (or too small).
        """
        box = await asyncio.to_thread(SecretBox, secret, old_secrets)
        kv = await _bind_bucket(js, bucket, history, replicas)
        await _ensure_audit(js, replicas)
        self = cls(js, kv, box, bucket)
        await self._start(sync_timeout)
        return self

    async def _start(self, sync_timeout: float) -> None:
        self._watcher = await self._kv.watchall()
        self._task = asyncio.create_task(self._run(), name=f"settings-watch-{self._bucket}")
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
        for w in list(self._watches):
            w.close()

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
                        self._watcher = await self._kv.watchall()
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

    # --- Live changes ------------------------------------------------------------------

    def watch(self, prefix: str = "") -> SettingsWatch:
        """An async iterator of :class:`SettingChange` for keys starting with ``prefix``.

        Use as ``async with settings.watch() as changes: async for c in changes: ...``;
        it sees every change applied after this call (this process's own included).
        """
        w = SettingsWatch(prefix, self._watches.discard)
        self._watches.add(w)
        return w

    def on_change(self, callback: ChangeCallback, prefix: str = "") -> Callable[[], None]:
        """Call ``callback(change)`` (synchronously; keep it quick) on each change of a key
        starting with ``prefix``. Returns a function that unregisters it.
        """
        item = (prefix, callback)
        self._callbacks.append(item)
        return lambda: self._callbacks.remove(item) if item in self._callbacks else None

    def _apply_entry(self, entry: KeyValue.Entry) -> None:
        key, revision = str(entry.key), entry.revision or 0
        if key not in KEYS:
            log.debug("ignoring unknown settings key %r", key)
            return
        if entry.operation in ("DEL", "PURGE"):
            self._apply(key, revision, None)
            return
        try:
            value = self._decode(key, entry.value or b"")
        except (msgspec.DecodeError, ValueError) as exc:
            self._apply(key, revision, None, f"stored value unreadable: {exc}")
            return
        self._apply(key, revision, value)

    def _apply(self, key: str, revision: int, value: Any, problem: str | None = None) -> None:
        """Cache ``value`` (``None``: absent) at ``revision`` unless something newer is there."""
        if revision <= self._revisions.get(key, 0):
            return
        self._revisions[key] = revision
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value
        if problem is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = problem
            log.error("settings key %s: %s; using the default", key, problem)
        change = SettingChange(key, self.get(key), revision, deleted=value is None)
        for w in list(self._watches):
            w.offer(change)
        for prefix, callback in list(self._callbacks):
            if key.startswith(prefix):
                try:
                    callback(change)
                except Exception:
                    log.exception("settings change callback failed for %s", key)

    # --- Encoding ----------------------------------------------------------------------

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, LLMConfig):
            value = msgspec.structs.replace(value, api_key=self._box.seal(value.api_key))
        elif isinstance(value, NotificationSetting):
            sealed = WebhookConfig(webhook_url=self._box.seal(value.config.webhook_url))
            value = NotificationSetting(config=sealed, enabled=value.enabled)
        return msgspec.json.encode(value)

    def _decode(self, key: str, data: bytes) -> Any:
        """The typed, decrypted, validated value; raises ``DecodeError`` or ``ValueError``."""
        value = msgspec.json.decode(data, type=spec_of(key).type)
        try:
            if isinstance(value, LLMConfig):
                value = msgspec.structs.replace(value, api_key=self._box.open(value.api_key))
            elif isinstance(value, NotificationSetting):
                url = self._box.open(value.config.webhook_url)
                value = NotificationSetting(
                    config=WebhookConfig(webhook_url=url), enabled=value.enabled
                )
        except SecretBoxError as exc:
            raise ValueError(str(exc)) from None
        return validate(key, value)

    # --- Generic access ----------------------------------------------------------------

    def get(self, key: str) -> Any:
        """The current value of ``key``: its typed value, or the key's default when unset
        (``None`` for the LLM config and notifications)."""
        return self._values.get(key, spec_of(key).default)

    def _typed(self, key: str, cls: type[T]) -> T:
        value = self.get(key)
        assert isinstance(value, cls)
        return value

    def is_set(self, key: str) -> bool:
        """Whether ``key`` holds a readable value (rather than its default)."""
        spec_of(key)
        return key in self._values

    def problems(self) -> dict[str, str]:
        """Keys whose stored value could not be read (e.g. the secret changed), and why.
        Those keys read as their defaults; a status endpoint can show this."""
        return dict(self._problems)

    def masked(self, key: str) -> Any:
        """:meth:`get` with secrets masked: what an API response may show."""
        return masked(self.get(key))

    def masked_snapshot(self) -> dict[str, Any]:
        """Every key's current value as JSON-ready builtins, secrets masked."""
        return {key: msgspec.to_builtins(self.masked(key)) for key in KEYS}

    async def set(self, key: str, value: Any, *, actor: str = SYSTEM_ACTOR) -> Any:
        """Validate and store ``value`` (a Struct or JSON-like builtins) under ``key``;
        returns the stored (normalised) value."""
        typed = validate(key, value)
        revision = await self._kv.put(key, self._encode(typed))
        self._apply(key, revision, typed)
        await self._audit("set", key, actor, revision, {"value": self._shown(typed)})
        return typed

    async def delete(self, key: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove ``key`` (it reads as its default again); ``False`` when it was not set."""
        spec_of(key)

        def drop(_current: Any, present: bool) -> Any:
            return _DELETE if present else _UNCHANGED

        changed, _ = await self._modify(key, drop)
        if changed:
            await self._audit("delete", key, actor, self._revisions[key], {})
        return changed

    async def refresh(self, key: str) -> None:
        """Read ``key`` from the bucket now instead of waiting for the watch to deliver it:
        after another process's write, this instance reads that value (or a newer one)."""
        spec_of(key)
        value, present, revision = await self._read(key)
        if revision:
            self._apply(key, revision, value if present else None)

    # --- Reference (Kure API) keys -----------------------------------------------------

    def get_reference(self, name: str) -> int:
        """The value of a reference key (``history_retention_minutes``,
        ``ignored_retention_minutes``, ``mirror-ttl``) as the plain number the API shows."""
        return reference_scalar(self.get(reference_key(name)))

    async def set_reference(self, name: str, raw: Any, *, actor: str = SYSTEM_ACTOR) -> int:
        """Set a reference key from the request's raw value (``"10080"`` or ``10080``);
        validation errors name the reference key. Returns the stored number."""
        stored = await self.set(reference_key(name), reference_value(name, raw), actor=actor)
        return reference_scalar(stored)

    # --- Retention and mirror TTL ------------------------------------------------------

    def history_retention_minutes(self) -> int:
        """Delete resolved pod failures after this many minutes (0: keep forever)."""
        return self._typed(HISTORY_RETENTION, Retention).minutes

    def ignored_retention_minutes(self) -> int:
        """Delete ignored pod failures after this many minutes (0: keep forever)."""
        return self._typed(IGNORED_RETENTION, Retention).minutes

    async def set_history_retention_minutes(
        self, minutes: int, *, actor: str = SYSTEM_ACTOR
    ) -> None:
        """Set the history retention (>= 0)."""
        await self.set(HISTORY_RETENTION, Retention(minutes=minutes), actor=actor)

    async def set_ignored_retention_minutes(
        self, minutes: int, *, actor: str = SYSTEM_ACTOR
    ) -> None:
        """Set the ignored-pods retention (>= 0)."""
        await self.set(IGNORED_RETENTION, Retention(minutes=minutes), actor=actor)

    def mirror_ttl_seconds(self) -> int:
        """Default lifetime of a mirror pod (30..3600, default 180)."""
        return self._typed(MIRROR_TTL, MirrorTTL).seconds

    async def set_mirror_ttl(self, seconds: int, *, actor: str = SYSTEM_ACTOR) -> None:
        """Set the default mirror-pod lifetime (30..3600 seconds)."""
        await self.set(MIRROR_TTL, MirrorTTL(seconds=seconds), actor=actor)

    # --- Exclusions --------------------------------------------------------------------

    def excluded_namespaces(self) -> tuple[str, ...]:
        """Namespace glob patterns whose pods are not reported."""
        return self._typed(EXCLUDED_NAMESPACES, Patterns).patterns

    def excluded_pods(self) -> tuple[str, ...]:
        """Pod-name glob patterns that are not reported."""
        return self._typed(EXCLUDED_PODS, Patterns).patterns

    def is_excluded(self, namespace: str, pod_name: str) -> bool:
        """Whether a pod is suppressed by a namespace or pod-name pattern."""
        return is_excluded(namespace, pod_name, self.excluded_namespaces(), self.excluded_pods())

    async def add_excluded_namespace(self, pattern: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Add a namespace pattern; ``False`` when it was already there."""
        return await self._add_pattern(EXCLUDED_NAMESPACES, pattern, actor)

    async def remove_excluded_namespace(self, pattern: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove a namespace pattern; ``False`` when it was not there."""
        return await self._remove_pattern(EXCLUDED_NAMESPACES, pattern, actor)

    async def add_excluded_pod(self, pattern: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Add a pod-name pattern; ``False`` when it was already there."""
        return await self._add_pattern(EXCLUDED_PODS, pattern, actor)

    async def remove_excluded_pod(self, pattern: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove a pod-name pattern; ``False`` when it was not there."""
        return await self._remove_pattern(EXCLUDED_PODS, pattern, actor)

    async def _add_pattern(self, key: str, pattern: str, actor: str) -> bool:
        text = check_pattern(key, pattern)

        def add(current: Any, _present: bool) -> Any:
            patterns = current.patterns if isinstance(current, Patterns) else ()
            return _UNCHANGED if text in patterns else Patterns(patterns=(*patterns, text))

        changed, _ = await self._modify(key, add)
        if changed:
            await self._audit("add", key, actor, self._revisions[key], {"pattern": text})
        return changed

    async def _remove_pattern(self, key: str, pattern: str, actor: str) -> bool:
        text = pattern.strip()

        def remove(current: Any, _present: bool) -> Any:
            patterns = current.patterns if isinstance(current, Patterns) else ()
            if text not in patterns:
                return _UNCHANGED
            return Patterns(patterns=tuple(p for p in patterns if p != text))

        changed, _ = await self._modify(key, remove)
        if changed:
            await self._audit("remove", key, actor, self._revisions[key], {"pattern": text})
        return changed

    # --- Rule exclusions (security checks) ---------------------------------------------

    def excluded_rules(self) -> tuple[RuleExclusion, ...]:
        """Suppressed security checks, global (``namespace`` empty) and per namespace."""
        return self._typed(EXCLUDED_RULES, RuleExclusions).rules

    def is_rule_excluded(self, title: str, check: str, namespace: str) -> bool:
        """Whether a finding with this title / check id in ``namespace`` is suppressed."""
        return is_rule_excluded(title, check, namespace, self.excluded_rules())

    async def add_excluded_rule(
        self, rule_title: str, namespace: str = "", *, actor: str = SYSTEM_ACTOR
    ) -> tuple[RuleExclusion, bool]:
        """Suppress a check (globally when ``namespace`` is empty). Returns the stored
        exclusion and whether it is new (an existing one keeps its ``created_at``)."""
        wanted = check_rule(
            EXCLUDED_RULES,
            RuleExclusion(
                rule_title=rule_title, namespace=namespace, created_at=audit.now().isoformat()
            ),
        )

        def add(current: Any, _present: bool) -> Any:
            rules = current.rules if isinstance(current, RuleExclusions) else ()
            if any(_same_rule(r, wanted) for r in rules):
                return _UNCHANGED
            return RuleExclusions(rules=(*rules, wanted))

        changed, _ = await self._modify(EXCLUDED_RULES, add)
        if changed:
            details = {"rule_title": wanted.rule_title, "namespace": wanted.namespace}
            await self._audit(
                "add", EXCLUDED_RULES, actor, self._revisions[EXCLUDED_RULES], details
            )
            return wanted, True
        existing = next(r for r in self.excluded_rules() if _same_rule(r, wanted))
        return existing, False

    async def remove_excluded_rule(
        self, rule_title: str, namespace: str = "", *, actor: str = SYSTEM_ACTOR
    ) -> bool:
        """Stop suppressing a check in that scope; ``False`` when it was not suppressed."""
        gone = RuleExclusion(rule_title=rule_title.strip(), namespace=namespace.strip())

        def remove(current: Any, _present: bool) -> Any:
            rules = current.rules if isinstance(current, RuleExclusions) else ()
            kept = tuple(r for r in rules if not _same_rule(r, gone))
            return _UNCHANGED if len(kept) == len(rules) else RuleExclusions(rules=kept)

        changed, _ = await self._modify(EXCLUDED_RULES, remove)
        if changed:
            details = {"rule_title": gone.rule_title, "namespace": gone.namespace}
            await self._audit(
                "remove", EXCLUDED_RULES, actor, self._revisions[EXCLUDED_RULES], details
            )
        return changed

    # --- LLM ---------------------------------------------------------------------------

    def llm_config(self) -> LLMConfig | None:
        """The LLM configuration with the API key in clear (for the provider client), or
        ``None`` when none is set or it cannot be decrypted (see :meth:`problems`)."""
        value = self.get(LLM_CONFIG)
        return value if isinstance(value, LLMConfig) else None

    async def set_llm_config(
        self, config: LLMConfig | dict[str, Any], *, actor: str = SYSTEM_ACTOR
    ) -> LLMConfig:
        """Store the LLM configuration (the API key encrypted); returns it normalised."""
        stored = await self.set(LLM_CONFIG, config, actor=actor)
        assert isinstance(stored, LLMConfig)
        return stored

    async def delete_llm_config(self, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove the LLM configuration; ``False`` when none was set."""
        return await self.delete(LLM_CONFIG, actor=actor)

    # --- Notifications -----------------------------------------------------------------

    def notification(self, provider: str) -> NotificationSetting | None:
        """One provider's setting (webhook URL in clear), or ``None`` when not configured."""
        value = self.get(notification_key(provider))
        return value if isinstance(value, NotificationSetting) else None

    def notifications(self) -> dict[Provider, NotificationSetting]:
        """Every configured provider's setting (enabled or not)."""
        found = {p: self.notification(p) for p in PROVIDERS}
        return {p: s for p, s in found.items() if s is not None}

    def enabled_notifications(self) -> dict[Provider, WebhookConfig]:
        """Provider -> webhook config of every enabled provider: what
        :func:`kubeward.integrations.notify.send_all` takes."""
        return {p: s.config for p, s in self.notifications().items() if s.enabled}

    async def set_notification(
        self,
        provider: str,
        setting: NotificationSetting | dict[str, Any],
        *,
        actor: str = SYSTEM_ACTOR,
    ) -> NotificationSetting:
        """Store one provider's ``{enabled, config: {webhook_url}}`` (URL encrypted)."""
        stored = await self.set(notification_key(provider), setting, actor=actor)
        assert isinstance(stored, NotificationSetting)
        return stored

    async def delete_notification(self, provider: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Remove one provider; ``False`` when it was not configured."""
        return await self.delete(notification_key(provider), actor=actor)

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
            self._js, AUDIT_AREA, record, msg_id=f"{self._bucket}-{key}-{revision}"
        )

    @staticmethod
    def _shown(value: Any) -> Any:
        return msgspec.to_builtins(masked(value))

    # --- Compare-and-set ---------------------------------------------------------------

    async def _modify(self, key: str, change: Callable[[Any, bool], Any]) -> tuple[bool, Any]:
        """Read ``key`` from the bucket, compute ``change(current, present)`` and write it
        only if nobody wrote in between (retrying on a lost race). ``change`` returns the
        new value, :data:`_DELETE` or :data:`_UNCHANGED`. Returns (changed, new value)."""
        for _ in range(_CAS_ATTEMPTS):
            current, present, last = await self._read(key)
            new = change(current, present)
            if new is _UNCHANGED:
                return False, current
            try:
                if new is _DELETE:
                    revision = await self._publish_delete(key, last)
                    self._apply(key, revision, None)
                    return True, None
                typed = validate(key, new)
                revision = await self._kv.update(key, self._encode(typed), last=last)
            except KeyWrongLastSequenceError:
                continue
            self._apply(key, revision, typed)
            return True, typed
        raise SettingsConflictError(f"{key}: too many concurrent changes, try again")

    async def _read(self, key: str) -> tuple[Any, bool, int]:
        """(typed value or ``None``, whether a value is present, last revision or 0)."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError as exc:
            marker = exc.entry  # set when the key's last entry is a delete marker
            return None, False, int(marker.revision) if marker is not None else 0
        try:
            value = self._decode(key, entry.value or b"")
        except (msgspec.DecodeError, ValueError):
            value = None  # present but unreadable: a write replaces it
        return value, True, entry.revision or 0

    async def _publish_delete(self, key: str, last: int) -> int:
        """A KV delete marker (as ``KeyValue.delete``) that also returns its revision."""
        headers = {_KV_OP: "DEL", _EXPECTED_LAST: str(last)}
        try:
            ack = await self._js.publish(f"$KV.{self._bucket}.{key}", b"", headers=headers)
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_CODES:
                raise KeyWrongLastSequenceError(description=exc.description) from None
            raise
        return int(ack.seq)


def _same_rule(a: RuleExclusion, b: RuleExclusion) -> bool:
    return a.rule_title == b.rule_title and a.namespace == b.namespace


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_UNCHANGED = _Marker("UNCHANGED")
_DELETE = _Marker("DELETE")


async def _bind_bucket(js: JetStreamContext, bucket: str, history: int, replicas: int) -> KeyValue:
    """The bucket, created with ``replicas`` (or 1 where the server cannot replicate); an
    existing bucket is brought to ``replicas`` where the server can hold them."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    else:
        await _rescale_bucket(js, bucket, replicas)
        return kv
    for n in dict.fromkeys((max(replicas, 1), 1)):
        config = KeyValueConfig(
            bucket=bucket,
            description="Kubeward admin settings (secrets encrypted)",
            history=history,
            replicas=n,
        )
        try:
            return await js.create_key_value(config)
        except APIError as exc:
            if n == 1:
                raise
            log.info("settings bucket with %d replicas refused (%s); using 1", n, exc)
    raise AssertionError("unreachable")


async def _rescale_bucket(js: JetStreamContext, bucket: str, replicas: int) -> None:
    """Move an existing bucket to ``replicas`` (e.g. after the bus became a cluster)."""
    stream = f"KV_{bucket}"
    config = (await js.stream_info(stream)).config
    if config.num_replicas == max(replicas, 1):
        return
    try:
        await js.update_stream(dataclasses.replace(config, num_replicas=max(replicas, 1)))
    except APIError as exc:
        log.info("settings bucket kept at %s replicas (%s)", config.num_replicas, exc)


async def _ensure_audit(js: JetStreamContext, replicas: int) -> None:
    """The ``AUDIT`` stream with ``replicas`` (or 1 where the server cannot replicate)."""
    for n in dict.fromkeys((max(replicas, 1), 1)):
        try:
            await audit.ensure_audit_stream(js, n)
            return
        except APIError as exc:
            if n == 1:
                raise
            log.info("AUDIT stream with %d replicas refused (%s); using 1", n, exc)
