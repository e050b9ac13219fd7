"""The admin settings' keys, value types, validation, masking and the exclusion matcher.

Pure data and functions (no I/O); :mod:`kubeward.core.app_settings` stores these values in
a JetStream Key-Value bucket. Every value is a ``msgspec.Struct`` encoded as JSON.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import msgspec

# --- Keys -----------------------------------------------------------------------------

HISTORY_RETENTION = "retention.history_minutes"
IGNORED_RETENTION = "retention.ignored_minutes"
MIRROR_TTL = "mirror.ttl_seconds"
EXCLUDED_NAMESPACES = "exclusions.namespaces"
EXCLUDED_PODS = "exclusions.pods"
EXCLUDED_RULES = "exclusions.rules"
LLM_CONFIG = "llm.config"
NOTIFICATIONS_PREFIX = "notifications."

Provider = Literal["slack", "teams", "discord", "webhook"]
PROVIDERS: Final[tuple[Provider, ...]] = ("slack", "teams", "discord", "webhook")

REFERENCE_KEYS: Final[dict[str, str]] = {
    "history_retention_minutes": HISTORY_RETENTION,
    "ignored_retention_minutes": IGNORED_RETENTION,
    "mirror-ttl": MIRROR_TTL,
}
"""Key names of the Kure reference API (``/api/admin/settings/{key}``) -> our keys."""

MIRROR_TTL_MIN = 30
MIRROR_TTL_MAX = 3600
MIRROR_TTL_DEFAULT = 180


def notification_key(provider: str) -> str:
    """The settings key of one notification provider (validated)."""
    return NOTIFICATIONS_PREFIX + check_provider(provider)


# --- Errors ---------------------------------------------------------------------------


class SettingValidationError(ValueError):
    """A value a setting cannot take. ``str()`` is a message fit for a 400 ``detail``."""

    def __init__(self, key: str, field: str, problem: str) -> None:
        self.key = key
        self.field = field
        self.problem = problem
        super().__init__(f"Invalid {key}: {field} {problem}")


class UnknownSettingError(KeyError):
    """A settings key (or reference key name) that does not exist."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)

    def __str__(self) -> str:
        return f"Unknown setting: {self.key}"


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


def check_url(key: str, field: str, url: str) -> str:
    """An absolute http(s) URL, stripped."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # e.g. "http://[::1": unparsable
        raise SettingValidationError(key, field, "must be an absolute http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(text) > 2048:
        raise SettingValidationError(key, field, "must be an absolute http(s) URL")
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


_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9._\-]{1,253}$")


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


# --- Key registry ---------------------------------------------------------------------


class KeySpec(msgspec.Struct, frozen=True):
    """What one key holds: its type, default, validator and secret-field (un)sealers."""

    key: str
    type: type[Any]
    default: Any
    check: Callable[[str, Any], Any]
    """Returns the normalised value or raises :class:`SettingValidationError`."""
    secret: bool = False
    """Holds secrets: :func:`seal` / :func:`unseal` apply, :func:`masked` hides them."""


_SPECS: dict[str, KeySpec] = {
    spec.key: spec
    for spec in (
        KeySpec(HISTORY_RETENTION, Retention, Retention(), _check_retention),
        KeySpec(IGNORED_RETENTION, Retention, Retention(), _check_retention),
        KeySpec(MIRROR_TTL, MirrorTTL, MirrorTTL(), _check_mirror_ttl),
        KeySpec(EXCLUDED_NAMESPACES, Patterns, Patterns(), _check_patterns),
        KeySpec(EXCLUDED_PODS, Patterns, Patterns(), _check_patterns),
        KeySpec(EXCLUDED_RULES, RuleExclusions, RuleExclusions(), _check_rules),
        KeySpec(LLM_CONFIG, LLMConfig, None, _check_llm, secret=True),
        *(
            KeySpec(NOTIFICATIONS_PREFIX + p, NotificationSetting, None, _check_notification, True)
            for p in PROVIDERS
        ),
    )
}

KEYS: Final[tuple[str, ...]] = tuple(_SPECS)


def spec_of(key: str) -> KeySpec:
    """The :class:`KeySpec` of ``key``; :class:`UnknownSettingError` for any other key."""
    try:
        return _SPECS[key]
    except KeyError:
        raise UnknownSettingError(key) from None


def validate(key: str, value: Any) -> Any:
    """Convert ``value`` (a Struct or JSON-like builtins) to ``key``'s type and check it.

    Strings convert to numbers and booleans (``{"minutes": "10080"}``), as the reference's
    ``{"value": "10080"}`` bodies need. Raises :class:`SettingValidationError` naming the
    key and field.
    """
    spec = spec_of(key)
    if not isinstance(value, spec.type):
        try:
            value = msgspec.convert(value, spec.type, strict=False)
        except msgspec.ValidationError as exc:
            field, problem = _split_validation_error(str(exc))
            raise SettingValidationError(key, field, problem) from None
    return spec.check(key, value)


def _split_validation_error(message: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.minutes`"`` -> ``("minutes", "expected ...")``."""
    text, sep, where = message.rpartition(" - at `$")
    if not sep:
        return "value", message[:1].lower() + message[1:]
    field = where.rstrip("`").lstrip(".") or "value"
    return field, text[:1].lower() + text[1:]


# --- Reference (Kure) key names -------------------------------------------------------


def reference_key(name: str) -> str:
    """Our key for a reference key name (``history_retention_minutes`` -> ...)."""
    try:
        return REFERENCE_KEYS[name]
    except KeyError:
        raise UnknownSettingError(name) from None


def reference_value(name: str, raw: Any) -> Any:
    """The typed value for a reference ``{"value": ...}`` body (or mirror-ttl's seconds).

    Errors name the reference key, e.g. ``Invalid history_retention_minutes: ...``.
    """
    key = reference_key(name)
    field = "seconds" if key == MIRROR_TTL else "minutes"
    try:
        return validate(key, {field: raw})
    except SettingValidationError as exc:
        shown = "value" if field == "minutes" else field
        raise SettingValidationError(name, shown, exc.problem) from None


def reference_scalar(value: Any) -> int:
    """The plain number the reference returns for a retention or mirror-ttl value."""
    if isinstance(value, Retention):
        return value.minutes
    if isinstance(value, MirrorTTL):
        return value.seconds
    raise TypeError(f"not a reference scalar: {type(value).__name__}")


# --- Masking --------------------------------------------------------------------------

MASK = "***"


def mask_secret(secret: str) -> str:
    """``sk-abcdefgh1234`` -> ``sk-***1234``: a short vendor prefix and the last 4 only.

    Short secrets (under 12 characters) show nothing but ``***``; empty stays empty.
    """
    if not secret:
        return ""
    if len(secret) < 12:
        return MASK
    dash = secret.find("-")
    prefix = secret[: dash + 1] if 0 < dash <= 3 else ""
    return f"{prefix}{MASK}{secret[-4:]}"


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XyZ1234`` -> ``https://hooks.slack.com/***1234``.

    Scheme and host stay (so an admin can tell which service it is); credentials, path and
    query are hidden except their last 4 characters when that part is long enough.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    tail = rest[-4:] if len(rest.strip("/")) >= 12 else ""
    return f"{parts.scheme}://{host}{port}/{MASK}{tail}"


def masked(value: Any) -> Any:
    """A value with its secrets masked (values without secrets are returned as they are)."""
    if isinstance(value, LLMConfig | WebhookConfig | NotificationSetting):
        return value.masked()
    return value


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


def rule_base(title: str) -> str:
    """The rule a finding title belongs to: ``Privileged container: app`` ->
    ``Privileged container`` (Kure's scanner names the container after ``": "``)."""
    return title.split(": ", 1)[0]


def is_rule_excluded(
    title: str, check: str, namespace: str, rules: Iterable[RuleExclusion]
) -> bool:
    """Whether a finding (its title, check id and namespace) is suppressed by a rule
    exclusion: same title, same base title or same check id, globally or in its namespace."""
    base = rule_base(title)
    return any(
        (not r.namespace or r.namespace == namespace) and r.rule_title in (title, base, check)
        for r in rules
    )
