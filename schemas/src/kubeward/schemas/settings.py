"""The admin settings that cross processes: keys, value Structs, validation, edits.

The gateway's admin API writes these keys; failure-analyzer (retention, exclusions, LLM,
notifications), security (exclusions, suppressed checks, LLM) and mirror (TTL, LLM) read
them live through :class:`kubeward.core.app_settings.AppSettings`, opened with
:data:`KEYS`. Each value is a ``msgspec.Struct`` stored as JSON under the key's name;
:mod:`kubeward.schemas.setting_key` says what a key is. Pure data and functions, no I/O.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any, Final, Literal

import msgspec

from kubeward.schemas.setting_key import (
    UNCHANGED,
    KeyRegistry,
    SecretField,
    SettingEdit,
    SettingKey,
    SettingValidationError,
    Unchanged,
    UnknownSettingError,
    check_url,
    mask_secret,
    mask_url,
)

Provider = Literal["slack", "teams", "discord", "webhook"]
PROVIDERS: Final[tuple[Provider, ...]] = ("slack", "teams", "discord", "webhook")

MIRROR_TTL_MIN = 30
MIRROR_TTL_MAX = 3600
MIRROR_TTL_DEFAULT = 180

# --- Value types ----------------------------------------------------------------------


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    """Auto-delete records after ``minutes`` (0 keeps them forever)."""

    minutes: int = 0


class MirrorTTL(msgspec.Struct, frozen=True, kw_only=True):
    """Default lifetime of a mirror pod (the reference's ``{"seconds": 300}``)."""

    seconds: int = MIRROR_TTL_DEFAULT


class Patterns(msgspec.Struct, frozen=True, kw_only=True):
    """Glob patterns (``fnmatch``, case-sensitive), e.g. ``kube-*`` or ``test-?``."""

    patterns: tuple[str, ...] = ()


class RuleExclusion(msgspec.Struct, frozen=True, kw_only=True):
    """A security check suppressed everywhere (``namespace`` empty) or in one namespace.

    ``rule_title`` names a finding title (Kure's ``Privileged container: app``), a title's
    base before ``": "`` (``Privileged container``: every container) or a check id.
    """

    rule_title: str
    namespace: str = ""
    created_at: str = ""


class RuleExclusions(msgspec.Struct, frozen=True, kw_only=True):
    """Every suppressed security check (Kure's ``/api/admin/excluded-rules``)."""

    rules: tuple[RuleExclusion, ...] = ()


class LLMConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The LLM provider the failure analyzer and security service use."""

    provider: str
    model: str
    api_key: str = ""
    base_url: str | None = None

    def masked(self) -> LLMConfig:
        """A copy fit for an API response: the API key masked."""
        return msgspec.structs.replace(self, api_key=mask_secret(self.api_key))

    def __repr__(self) -> str:  # never put the key in a log line by accident
        return (
            f"LLMConfig(provider={self.provider!r}, model={self.model!r}, "
            f"api_key={mask_secret(self.api_key)!r}, base_url={self.base_url!r})"
        )


class WebhookConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where a notification provider delivers: its incoming-webhook URL (a secret)."""

    webhook_url: str

    def masked(self) -> WebhookConfig:
        """A copy fit for an API response: the URL's secret part masked."""
        return WebhookConfig(webhook_url=mask_url(self.webhook_url))

    def __repr__(self) -> str:
        return f"WebhookConfig(webhook_url={mask_url(self.webhook_url)!r})"


class NotificationSetting(msgspec.Struct, frozen=True, kw_only=True):
    """One notification provider, as the reference's body minus ``provider``."""

    config: WebhookConfig
    enabled: bool = True

    def masked(self) -> NotificationSetting:
        """A copy fit for an API response."""
        return NotificationSetting(config=self.config.masked(), enabled=self.enabled)


# --- Validation -----------------------------------------------------------------------

_PATTERN_RE = re.compile(r"^[A-Za-z0-9._\-*?\[\]!]{1,253}$")
_PROVIDER_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9._\-]{1,253}$")


def check_provider(provider: str) -> Provider:
    """``provider`` if it is a notification provider we can send to."""
    for known in PROVIDERS:
        if provider == known:
            return known
    raise SettingValidationError(
        "notifications", "provider", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}"
    )


def check_pattern(key: str, pattern: str) -> str:
    """A glob pattern for pod or namespace names, stripped; raises when it cannot match one."""
    text = pattern.strip()
    if not _PATTERN_RE.match(text):
        raise SettingValidationError(
            key,
            "pattern",
            "must be 1-253 characters of letters, digits, '.', '-', '_' and the glob "
            f"characters '*?[]!', got {pattern!r}",
        )
    return text


def _check_retention(key: str, value: Retention) -> Retention:
    if value.minutes < 0:
        raise SettingValidationError(
            key, "minutes", f"must be an integer >= 0 (0 = keep forever), got {value.minutes}"
        )
    return value


def _check_mirror_ttl(key: str, value: MirrorTTL) -> MirrorTTL:
    if not MIRROR_TTL_MIN <= value.seconds <= MIRROR_TTL_MAX:
        raise SettingValidationError(
            key,
            "seconds",
            f"must be between {MIRROR_TTL_MIN} and {MIRROR_TTL_MAX}, got {value.seconds}",
        )
    return value


def _check_patterns(key: str, value: Patterns) -> Patterns:
    unique = dict.fromkeys(check_pattern(key, p) for p in value.patterns)
    return Patterns(patterns=tuple(unique))


def check_rule(key: str, rule: RuleExclusion) -> RuleExclusion:
    """A rule exclusion with its title and namespace stripped; raises when unusable."""
    title = rule.rule_title.strip()
    if not title or len(title) > 500:
        raise SettingValidationError(key, "rule_title", "is required (1-500 characters)")
    namespace = rule.namespace.strip()
    if namespace and not _NAMESPACE_RE.match(namespace):
        raise SettingValidationError(key, "namespace", f"is not a namespace name: {namespace!r}")
    return RuleExclusion(rule_title=title, namespace=namespace, created_at=rule.created_at)


def _check_rules(key: str, value: RuleExclusions) -> RuleExclusions:
    unique: dict[tuple[str, str], RuleExclusion] = {}
    for rule in value.rules:
        checked = check_rule(key, rule)
        unique.setdefault((checked.rule_title, checked.namespace), checked)
    return RuleExclusions(rules=tuple(unique.values()))


def _check_llm(key: str, value: LLMConfig) -> LLMConfig:
    provider = value.provider.strip().lower()
    if not _PROVIDER_RE.match(provider):
        raise SettingValidationError(key, "provider", "must be a provider name like 'openai'")
    model = value.model.strip()
    if not model or len(model) > 200:
        raise SettingValidationError(key, "model", "must be 1-200 characters")
    api_key = value.api_key.strip()
    if len(api_key) > 4096 or any(c.isspace() for c in api_key):
        raise SettingValidationError(key, "api_key", "must be one token without spaces")
    base_url = None if value.base_url in (None, "") else check_url(key, "base_url", value.base_url)
    return LLMConfig(provider=provider, model=model, api_key=api_key, base_url=base_url)


def _check_notification(key: str, value: NotificationSetting) -> NotificationSetting:
    url = check_url(key, "config.webhook_url", value.config.webhook_url)
    return NotificationSetting(config=WebhookConfig(webhook_url=url), enabled=value.enabled)


# --- Keys -----------------------------------------------------------------------------

HISTORY_RETENTION = SettingKey(
    "retention.history_minutes", Retention, Retention(), _check_retention
)
"""Delete resolved pod failures after this many minutes (failure-analyzer)."""
IGNORED_RETENTION = SettingKey(
    "retention.ignored_minutes", Retention, Retention(), _check_retention
)
"""Delete ignored pod failures after this many minutes (failure-analyzer)."""
MIRROR_TTL = SettingKey("mirror.ttl_seconds", MirrorTTL, MirrorTTL(), _check_mirror_ttl)
"""Default lifetime of a mirror pod (mirror)."""
EXCLUDED_NAMESPACES = SettingKey("exclusions.namespaces", Patterns, Patterns(), _check_patterns)
"""Namespaces whose pods are not reported (failure-analyzer, security)."""
EXCLUDED_PODS = SettingKey("exclusions.pods", Patterns, Patterns(), _check_patterns)
"""Pod names that are not reported (failure-analyzer, security)."""
EXCLUDED_RULES = SettingKey("exclusions.rules", RuleExclusions, RuleExclusions(), _check_rules)
"""Suppressed security checks (security)."""
LLM_CONFIG = SettingKey(
    "llm.config", LLMConfig, check=_check_llm, secrets=(SecretField("api_key", mask_secret),)
)
"""The LLM provider (failure-analyzer, security, mirror); the API key is a secret."""
NOTIFICATIONS_PREFIX = "notifications."
NOTIFICATIONS: Final[dict[Provider, SettingKey[NotificationSetting | None]]] = {
    p: SettingKey(
        NOTIFICATIONS_PREFIX + p,
        NotificationSetting,
        check=_check_notification,
        secrets=(SecretField("config.webhook_url", mask_url),),
    )
    for p in PROVIDERS
}
"""One key per notification provider (failure-analyzer); the webhook URL is a secret."""

KEYS: Final = KeyRegistry(
    (
        HISTORY_RETENTION,
        IGNORED_RETENTION,
        MIRROR_TTL,
        EXCLUDED_NAMESPACES,
        EXCLUDED_PODS,
        EXCLUDED_RULES,
        LLM_CONFIG,
        *NOTIFICATIONS.values(),
    )
)
"""Every key above: what a store is opened with."""


def notification_key(provider: str) -> SettingKey[NotificationSetting | None]:
    """The settings key of one notification provider (validated)."""
    return NOTIFICATIONS[check_provider(provider)]


# --- Edits (the admin API's read-modify-writes) ---------------------------------------


def add_pattern(key: SettingKey[Patterns], pattern: str) -> SettingEdit[Patterns]:
    """Add a glob pattern to ``key`` (audited as ``add``; unchanged when already there)."""
    text = check_pattern(key.name, pattern)

    def add(current: Patterns) -> Patterns | Unchanged:
        if text in current.patterns:
            return UNCHANGED
        return Patterns(patterns=(*current.patterns, text))

    return SettingEdit(key, add, "add", {"pattern": text})


def remove_pattern(key: SettingKey[Patterns], pattern: str) -> SettingEdit[Patterns]:
    """Remove a glob pattern from ``key`` (audited as ``remove``; unchanged when absent)."""
    text = pattern.strip()

    def remove(current: Patterns) -> Patterns | Unchanged:
        if text not in current.patterns:
            return UNCHANGED
        return Patterns(patterns=tuple(p for p in current.patterns if p != text))

    return SettingEdit(key, remove, "remove", {"pattern": text})


def same_rule(a: RuleExclusion, b: RuleExclusion) -> bool:
    """Whether two exclusions suppress the same check in the same scope."""
    return a.rule_title == b.rule_title and a.namespace == b.namespace


def add_rule(rule: RuleExclusion) -> SettingEdit[RuleExclusions]:
    """Suppress a check (checked first; unchanged when that scope already has it)."""
    wanted = check_rule(EXCLUDED_RULES.name, rule)

    def add(current: RuleExclusions) -> RuleExclusions | Unchanged:
        if any(same_rule(r, wanted) for r in current.rules):
            return UNCHANGED
        return RuleExclusions(rules=(*current.rules, wanted))

    details = {"rule_title": wanted.rule_title, "namespace": wanted.namespace}
    return SettingEdit(EXCLUDED_RULES, add, "add", details)


def remove_rule(rule_title: str, namespace: str = "") -> SettingEdit[RuleExclusions]:
    """Stop suppressing a check in that scope (unchanged when it was not suppressed)."""
    gone = RuleExclusion(rule_title=rule_title.strip(), namespace=namespace.strip())

    def remove(current: RuleExclusions) -> RuleExclusions | Unchanged:
        kept = tuple(r for r in current.rules if not same_rule(r, gone))
        return UNCHANGED if len(kept) == len(current.rules) else RuleExclusions(rules=kept)

    details = {"rule_title": gone.rule_title, "namespace": gone.namespace}
    return SettingEdit(EXCLUDED_RULES, remove, "remove", details)


# --- Reference (Kure API) key names ---------------------------------------------------

REFERENCE_KEYS: Final[dict[str, SettingKey[Any]]] = {
    "history_retention_minutes": HISTORY_RETENTION,
    "ignored_retention_minutes": IGNORED_RETENTION,
    "mirror-ttl": MIRROR_TTL,
}
"""Key names of the Kure reference API (``/api/admin/settings/{key}``) -> our keys (each
holds a :class:`Retention` or a :class:`MirrorTTL`)."""


def reference_key(name: str) -> SettingKey[Any]:
    """Our key for a reference key name (``history_retention_minutes`` -> ...)."""
    try:
        return REFERENCE_KEYS[name]
    except KeyError:
        raise UnknownSettingError(name) from None


def reference_value(name: str, raw: Any) -> Retention | MirrorTTL:
    """The typed value for a reference ``{"value": ...}`` body (or mirror-ttl's seconds).

    Errors name the reference key, e.g. ``Invalid history_retention_minutes: ...``.
    """
    key = reference_key(name)
    field = "seconds" if key is MIRROR_TTL else "minutes"
    try:
        value: Retention | MirrorTTL = key.validate({field: raw})
    except SettingValidationError as exc:
        shown = "value" if field == "minutes" else field
        raise SettingValidationError(name, shown, exc.problem) from None
    return value


def reference_scalar(value: Retention | MirrorTTL) -> int:
    """The plain number the reference returns for a retention or mirror-ttl value."""
    if isinstance(value, Retention):
        return value.minutes
    return value.seconds


# --- Exclusions -----------------------------------------------------------------------


def is_excluded(
    namespace: str,
    pod_name: str,
    namespace_patterns: Iterable[str],
    pod_patterns: Iterable[str],
) -> bool:
    """Whether a pod is suppressed: its namespace or its name matches a glob pattern.

    Case-sensitive (``fnmatchcase``), as Kubernetes names are.
    """
    return any(fnmatch.fnmatchcase(namespace, p) for p in namespace_patterns) or any(
        fnmatch.fnmatchcase(pod_name, p) for p in pod_patterns
    )
