"""What a typed admin-settings key is, domain-free: :class:`SettingKey` and its registry.

The store (:mod:`kubeward.core.app_settings`) keeps one JSON value per key in a JetStream
Key-Value bucket and knows keys only through these descriptors: the key's name, the
``msgspec.Struct`` it holds, its default, its validator and which of its string fields are
secrets (encrypted at rest, masked in answers and audit records). The keys themselves live
beside their values (:mod:`kubeward.schemas.settings`). Pure data and functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload
from urllib.parse import urlsplit

import msgspec

T = TypeVar("T")
S = TypeVar("S")

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


def check_url(key: str, field: str, url: str) -> str:
    """An absolute http(s) URL, stripped (a validator's building block)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # e.g. "http://[::1": unparsable
        raise SettingValidationError(key, field, "must be an absolute http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(text) > 2048:
        raise SettingValidationError(key, field, "must be an absolute http(s) URL")
    return text


# --- Descriptors ----------------------------------------------------------------------


@dataclass(frozen=True)
class SecretField:
    """A string field holding a secret: ``path`` from the value (``"config.webhook_url"``
    for a nested Struct) and how an answer shows it (``mask``)."""

    path: str
    mask: Callable[[str], str] = mask_secret

    def replace(self, value: Any, fn: Callable[[str], str]) -> Any:
        """``value`` with this field replaced by ``fn(field)`` (Structs are immutable)."""
        return _replace_at(value, self.path.split("."), fn)


def _replace_at(value: Any, path: list[str], fn: Callable[[str], str]) -> Any:
    head, rest = path[0], path[1:]
    inner = getattr(value, head)
    new = _replace_at(inner, rest, fn) if rest else fn(inner)
    return msgspec.structs.replace(value, **{head: new})


class SettingKey(Generic[T]):
    """One key of the settings bucket and what it holds.

    ``T`` is what a read returns: the ``type`` Struct, or ``type | None`` for a key
    without a default (``SettingKey("llm.config", LLMConfig, check=...)``). ``check``
    gets the key name and the converted value and returns it normalised, or raises
    :class:`SettingValidationError`.
    """

    __slots__ = ("check", "default", "name", "secrets", "type")

    @overload
    def __init__(
        self: SettingKey[S],
        name: str,
        type: type[S],
        default: S,
        check: Callable[[str, S], S] | None = None,
        *,
        secrets: tuple[SecretField, ...] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: SettingKey[S | None],
        name: str,
        type: type[S],
        default: None = None,
        check: Callable[[str, S], S] | None = None,
        *,
        secrets: tuple[SecretField, ...] = (),
    ) -> None: ...

    def __init__(
        self,
        name: str,
        type: type[Any],
        default: Any = None,
        check: Callable[[str, Any], Any] | None = None,
        *,
        secrets: tuple[SecretField, ...] = (),
    ) -> None:
        self.name = name
        self.type = type
        self.default: T = default
        self.check: Callable[[str, Any], Any] = check or _unchecked
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"SettingKey({self.name!r}, {self.type.__name__})"

    def validate(self, value: object) -> T:
        """Convert ``value`` (a Struct or JSON-like builtins) to this key's type and check it.

        Strings convert to numbers and booleans (``{"minutes": "10080"}``), as the
        reference's ``{"value": "10080"}`` bodies need. Raises
        :class:`SettingValidationError` naming the key and field.
        """
        if not isinstance(value, self.type):
            try:
                value = msgspec.convert(value, self.type, strict=False)
            except msgspec.ValidationError as exc:
                field, problem = _split_validation_error(str(exc))
                raise SettingValidationError(self.name, field, problem) from None
        checked: T = self.check(self.name, value)
        return checked

    def masked(self, value: T) -> T:
        """``value`` with its secrets masked: what an answer or audit record may show."""
        if value is None:
            return value
        for secret in self.secrets:
            value = secret.replace(value, secret.mask)
        return value


def _unchecked(_key: str, value: Any) -> Any:
    return value


def _split_validation_error(message: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.minutes`"`` -> ``("minutes", "expected ...")``."""
    text, sep, where = message.rpartition(" - at `$")
    if not sep:
        return "value", message[:1].lower() + message[1:]
    field = where.rstrip("`").lstrip(".") or "value"
    return field, text[:1].lower() + text[1:]


class KeyRegistry(Mapping[str, SettingKey[Any]]):
    """The keys a store knows, by name, in declaration order."""

    def __init__(self, keys: Iterable[SettingKey[Any]]) -> None:
        self._keys: dict[str, SettingKey[Any]] = {}
        for key in keys:
            if key.name in self._keys:
                raise ValueError(f"settings key {key.name!r} declared twice")
            self._keys[key.name] = key

    def __getitem__(self, name: str) -> SettingKey[Any]:
        try:
            return self._keys[name]
        except KeyError:
            raise UnknownSettingError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, name: object) -> bool:
        return name in self._keys


# --- Edits ----------------------------------------------------------------------------


class Unchanged:
    """What a change function returns to leave the stored value as it is."""

    _instance: Unchanged | None = None

    def __new__(cls) -> Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()


class SettingEdit(Generic[T]):
    """A read-modify-write of one key, described as data: the store's ``apply`` runs
    ``change`` (current value, or the default when unset -> new value or
    :data:`UNCHANGED`; it may run again when writers race) with compare-and-set and
    audits it as ``action`` with ``details`` (plus the revision)."""

    __slots__ = ("action", "change", "details", "key")

    def __init__(
        self,
        key: SettingKey[T],
        change: Callable[[T], T | Unchanged],
        action: str,
        details: Mapping[str, Any],
    ) -> None:
        self.key = key
        self.change = change
        self.action = action
        self.details = dict(details)
