"""Where the admin settings are stored: their JetStream KV bucket and the ``AUDIT`` stream.

:meth:`SettingsBucket.bind` binds the bucket (creating it, or moving an existing one to the
asked replicas) and :func:`ensure_audit` the stream changes are recorded on; each falls
back to one replica where the server cannot hold more. A :class:`SettingsBucket` is
revisioned access to one bucket: the compare-and-set primitives the store's writes are
built on. It handles bytes; values and their secrets are
:mod:`kubeward.core.settings_codec`'s.
"""

from __future__ import annotations

import dataclasses
import logging

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

log = logging.getLogger(__name__)

_KV_OP = "KV-Operation"
_EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_CODES = (10071, 10164)


class SettingsBucket:
    """Revisioned access to the KV bucket ``name``: reads return a key's last revision,
    and :meth:`update` and :meth:`delete` write only if that is still the last one
    (``KeyWrongLastSequenceError`` otherwise)."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, name: str) -> None:
        """Use :meth:`bind`."""
        self._js = js
        self._kv = kv
        self.name = name

    @classmethod
    async def bind(
        cls, js: JetStreamContext, name: str, history: int, replicas: int
    ) -> SettingsBucket:
        """The bucket ``name``, created with ``history`` and ``replicas`` (or 1 where the
        server cannot replicate); an existing bucket is brought to ``replicas`` where the
        server can hold them."""
        try:
            kv = await js.key_value(name)
        except BucketNotFoundError:
            kv = await _create_bucket(js, name, history, replicas)
        else:
            await _rescale_bucket(js, name, replicas)
        return cls(js, kv, name)

    async def watchall(self) -> KeyValue.KeyWatcher:
        """A watch of every key: the current values, ``None``, then each update."""
        return await self._kv.watchall()

    async def read(self, key: str) -> tuple[bytes | None, int]:
        """(the stored bytes, ``None`` when absent or deleted; the key's last revision,
        0 when it was never written)."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError as exc:
            marker = exc.entry  # set when the key's last entry is a delete marker
            return None, int(marker.revision) if marker is not None else 0
        return entry.value or b"", entry.revision or 0

    async def put(self, key: str, data: bytes) -> int:
        """Store ``data`` whatever the key holds; returns its revision."""
        return await self._kv.put(key, data)

    async def update(self, key: str, data: bytes, last: int) -> int:
        """Store ``data`` if ``last`` is still the key's last revision; returns its own."""
        return await self._kv.update(key, data, last=last)

    async def delete(self, key: str, last: int) -> int:
        """A KV delete marker (as ``KeyValue.delete``) that also returns its revision."""
        headers = {_KV_OP: "DEL", _EXPECTED_LAST: str(last)}
        try:
            ack = await self._js.publish(f"$KV.{self.name}.{key}", b"", headers=headers)
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_CODES:
                raise KeyWrongLastSequenceError(description=exc.description) from None
            raise
        return int(ack.seq)


async def _create_bucket(
    js: JetStreamContext, bucket: str, history: int, replicas: int
) -> KeyValue:
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


async def ensure_audit(js: JetStreamContext, replicas: int) -> None:
    """The ``AUDIT`` stream with ``replicas`` (or 1 where the server cannot replicate)."""
    for n in dict.fromkeys((max(replicas, 1), 1)):
        try:
            await audit.ensure_audit_stream(js, n)
            return
        except APIError as exc:
            if n == 1:
                raise
            log.info("AUDIT stream with %d replicas refused (%s); using 1", n, exc)
