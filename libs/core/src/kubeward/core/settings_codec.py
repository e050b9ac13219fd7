"""How a setting's value is stored: JSON with its secret fields sealed.

:class:`SettingsCodec` turns a :class:`~kubeward.schemas.setting_key.SettingKey`'s value
into the bytes kept in the bucket and back: the key's secret fields are sealed and opened
with a :class:`~kubeward.core.secret_box.SecretBox`, and a decoded value is validated as a
written one is. :func:`shown` is the masked, JSON-ready form for answers and audit records.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from kubeward.core.secret_box import SecretBox, SecretBoxError
from kubeward.schemas.setting_key import SettingKey

T = TypeVar("T")

UNREADABLE: tuple[type[Exception], ...] = (msgspec.DecodeError, ValueError)
"""What :meth:`SettingsCodec.decode` raises for bytes that are not a value of the key."""


class SettingsCodec:
    """Encodes and decodes settings values, sealing their secrets with ``box``."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def encode(self, key: SettingKey[Any], value: Any) -> bytes:
        """``value`` (already validated) as stored: JSON, the key's secret fields sealed."""
        for secret in key.secrets:
            value = secret.replace(value, self._box.seal)
        return msgspec.json.encode(value)

    def decode(self, key: SettingKey[T], data: bytes) -> T:
        """The typed, decrypted, validated value; raises ``DecodeError`` or ``ValueError``."""
        value = msgspec.json.decode(data, type=key.type)
        try:
            for secret in key.secrets:
                value = secret.replace(value, self._box.open)
        except SecretBoxError as exc:
            raise ValueError(str(exc)) from None
        return key.validate(value)


def shown(key: SettingKey[Any], value: Any) -> Any:
    """``value`` as JSON-ready builtins with its secrets masked: what may be shown."""
    return msgspec.to_builtins(key.masked(value))
