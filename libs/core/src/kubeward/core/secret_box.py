"""Encryption of secrets at rest (LLM API keys, webhook URLs) with a key from a secret.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived by scrypt
from the operator's ``SETTINGS_SECRET``. Every service derives the same key from the same
secret, so any of them can read what another wrote. Sealed text carries the prefix
``enc:v1:``; old secrets can be given for a rotation (read with any, write with the first).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PREFIX = "enc:v1:"
MIN_SECRET_LENGTH = 16
_SALT = b"kubeward/app-settings/v1"
"""Fixed on purpose: the salt must be the same in every service. The secret is the secret."""


class SecretBoxError(ValueError):
    """A sealed value cannot be opened (wrong or rotated-away secret, or damaged text)."""


def derive_key(secret: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) for ``secret``; slow on purpose (scrypt)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the settings secret must be at least {MIN_SECRET_LENGTH} characters")
    raw = Scrypt(salt=_SALT, length=32, n=2**14, r=8, p=1).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Seals and opens short secrets with keys derived from ``secret`` (and ``old_secrets``)."""

    def __init__(self, secret: str, old_secrets: Sequence[str] = ()) -> None:
        keys = [Fernet(derive_key(s)) for s in (secret, *old_secrets)]
        self._fernet = MultiFernet(keys)

    def seal(self, plaintext: str) -> str:
        """``enc:v1:<fernet token>``; an empty string stays empty (nothing to hide)."""
        if not plaintext:
            return ""
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plaintext of :meth:`seal`'s output; raises :class:`SecretBoxError`."""
        if not sealed:
            return ""
        if not sealed.startswith(PREFIX):
            raise SecretBoxError("value is not sealed (missing enc:v1: prefix)")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretBoxError(
                "cannot decrypt with the configured settings secret (was it changed?)"
            ) from exc
