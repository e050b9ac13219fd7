"""The audit trail of admin changes: records on the JetStream stream ``AUDIT``.

One :class:`~kubeward.schemas.audit.AuditRecord` per change, on ``kubeward.audit.<area>``.
``details`` must never hold a secret in clear: callers pass masked values.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kubeward.core.bus import ensure_streams
from kubeward.schemas import bus
from kubeward.schemas.audit import AuditRecord

MAX_READ = 1000
"""Most records :func:`read_audit` returns at once."""


_decoder = msgspec.json.Decoder(AuditRecord)


def now() -> datetime:
    """The current time in UTC (what ``at`` holds)."""
    return datetime.now(UTC)


async def ensure_audit_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update the ``AUDIT`` stream (with ``replicas``, as every stream)."""
    await ensure_streams(js, [bus.AUDIT], replicas)


async def publish_audit(
    js: JetStreamContext, area: str, record: AuditRecord, msg_id: str | None = None
) -> int:
    """Store ``record`` on ``kubeward.audit.<area>``; returns its stream sequence.

    ``msg_id`` makes a retried publish of the same change a no-op (JetStream dedup).
    """
    headers = {bus.HDR_MSG_ID: msg_id} if msg_id else None
    ack = await js.publish(
        bus.audit_subject(area), msgspec.json.encode(record), headers=headers, timeout=5
    )
    return int(ack.seq)


async def read_audit(js: JetStreamContext, limit: int = 100, before: int = 0) -> list[AuditRecord]:
    """The newest ``limit`` records (at most :data:`MAX_READ`), newest first.

    ``before`` (a ``seq`` from an earlier page) pages back: only records older than it.
    Records removed by the stream's age limit are simply absent.
    """
    limit = max(0, min(limit, MAX_READ))
    try:
        state = (await js.stream_info(bus.AUDIT.name)).state
    except NotFoundError:
        return []
    last = state.last_seq if before <= 0 else min(state.last_seq, before - 1)
    first = max(state.first_seq, last - limit + 1, 1)
    if not state.messages or limit == 0 or last < first:
        return []
    found = await asyncio.gather(*(_get(js, seq) for seq in range(last, first - 1, -1)))
    return [record for record in found if record is not None]


async def _get(js: JetStreamContext, seq: int) -> AuditRecord | None:
    try:
        msg = await js.get_msg(bus.AUDIT.name, seq)
    except NotFoundError:
        return None
    try:
        record = _decoder.decode(msg.data or b"")
    except msgspec.DecodeError:
        return None  # not ours: the stream is open to anyone who can publish
    return msgspec.structs.replace(record, seq=seq)
