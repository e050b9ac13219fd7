"""What every collect router shares: limits, rejects, dead letters, replies, publishing.

Rule for records that fail validation:
- bus input: every valid record goes on; each invalid one is dead-lettered on its own with
  the reason and its original bytes;
- HTTP input (the gateway set ``Kubeward-Reply-To``): all or nothing; one invalid record
  rejects the message with a 400 naming each bad record, and nothing is stored, so the
  caller can fix and resend the whole batch.
A message that is not JSON, or holds more records than allowed, is rejected whole.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.bus import dead_letter, publish_reply, stream_seq
from kubeward.ingest import metrics
from kubeward.schemas import bus
from kubeward.schemas.replies import error

STAGE = "ingest"
MAX_REJECTS_IN_DETAIL = 20

R = TypeVar("R")
"""A validated record."""
T = TypeVar("T")
G = TypeVar("G")
"""The group of one collect message's records, as forwarded to traffic-store."""

_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Reject(msgspec.Struct, frozen=True):
    """A record that could not be accepted, with the reason and its original bytes."""

    index: int | None
    reason: str
    data: bytes


def origin_us(msg: Msg) -> int:
    """The stream timestamp of a JetStream message, in Unix microseconds."""
    return (msg.metadata.timestamp - _EPOCH) // timedelta(microseconds=1)


def count_records(data: bytes) -> int:
    """Records in a message without validating them (for the per-message limit)."""
    if data.lstrip()[:1] != b"[":
        return 1
    try:
        return len(_raw_list.decode(data))
    except msgspec.DecodeError:
        return 1


def parse_records(
    data: bytes, decode_one: Callable[[bytes | msgspec.Raw], T]
) -> tuple[list[T], list[Reject]]:
    """Split a collect message holding one record or a JSON array of them into good records
    and rejects, with ``decode_one`` raising ``ValueError`` (naming the field) for a bad one.

    Raises ``ValueError`` when the message is not JSON at all.
    """
    try:
        if data.lstrip()[:1] != b"[":
            return [decode_one(data)], []
        raws = _raw_list.decode(data)
    except msgspec.DecodeError as exc:  # not JSON; validation errors are plain ValueErrors
        raise ValueError(f"malformed JSON: {exc}") from None
    except ValueError as exc:
        return [], [Reject(None, str(exc), data)]
    records: list[T] = []
    rejects: list[Reject] = []
    for index, raw in enumerate(raws):
        try:
            records.append(decode_one(raw))
        except ValueError as exc:
            rejects.append(Reject(index, f"[{index}] {exc}", bytes(raw)))
    return records, rejects


class CollectRouter(ABC, Generic[R, G]):
    """Batch handler for one collect subject: validate, answer or dead-letter, forward.

    Subclasses say how a message parses into records and how records are grouped and
    batched for the internal stream.
    """

    kind: str
    """Metrics label, e.g. ``pod-traffic``."""
    label: str
    """How error details name the input, e.g. ``pod traffic``."""
    subject: str
    """The internal stream subject valid groups go to."""
    payload: Any
    """The type of one record of a collect message (the bus contract lists it)."""

    def __init__(self, nc: NATS, js: JetStreamContext, max_records: int) -> None:
        self._nc = nc
        self._js = js
        self._max_records = max_records
        self._encoder = msgspec.msgpack.Encoder()

    @abstractmethod
    def parse(self, msg: Msg) -> tuple[list[R], list[Reject]]:
        """Good records and rejects of one message; ``ValueError`` rejects it whole."""

    @abstractmethod
    def group(self, msg: Msg, reply_to: str | None, records: list[R]) -> G:
        """The group that carries ``records`` (and who waits for them) to traffic-store."""

    @abstractmethod
    def batch(self, groups: list[G]) -> msgspec.Struct:
        """The internal-stream message for ``groups``."""

    @abstractmethod
    def origin_seq(self, group: G) -> int:
        """The collect sequence a group came from (for the forwarded message's id)."""

    def detail(self, reasons: str) -> str:
        """The ``detail`` an HTTP caller gets for rejected input."""
        return f"Invalid {self.label}: {reasons}"

    async def __call__(self, msgs: list[Msg]) -> None:
        """Route every message of a fetched batch, then forward the good records."""
        groups: list[tuple[G, int]] = []
        for msg in msgs:
            metrics.MESSAGES.labels(self.kind).inc()
            group = await self._route_one(msg)
            if group is not None:
                groups.append((group, len(msg.data)))
        await self._publish(groups)

    async def _route_one(self, msg: Msg) -> G | None:
        seq = stream_seq(msg)
        reply_to = (msg.headers or {}).get(bus.HDR_REPLY_TO)
        try:
            records_in_message = count_records(msg.data)
            if records_in_message > self._max_records:
                reason = (
                    f"message holds {records_in_message} records; the limit is {self._max_records}"
                )
                await self._reject_whole(msg, seq, reply_to, reason, status=413)
                return None
            records, rejects = self.parse(msg)
        except ValueError as exc:
            await self._reject_whole(msg, seq, reply_to, str(exc), status=400)
            return None
        except RecursionError:
            # Not a transient failure: redelivering it would stall the consumer forever.
            reason = "malformed JSON: nested too deeply"
            await self._reject_whole(msg, seq, reply_to, reason, status=400)
            return None
        if rejects:
            metrics.RECORDS.labels(self.kind, "rejected").inc(len(rejects))
            if reply_to is not None:
                shown = "; ".join(r.reason for r in rejects[:MAX_REJECTS_IN_DETAIL])
                more = len(rejects) - MAX_REJECTS_IN_DETAIL
                detail = self.detail(shown + (f"; and {more} more" if more > 0 else ""))
                await publish_reply(self._nc, reply_to, msgspec.json.encode(error(400, detail)))
                return None
            for reject in rejects:
                metrics.DEADLETTERS.labels(self.kind).inc()
                await dead_letter(self._js, STAGE, reject.data, reject.reason, msg.subject, seq)
        metrics.RECORDS.labels(self.kind, "accepted").inc(len(records))
        if not records and reply_to is None:
            return None
        # An HTTP caller with nothing valid to store still gets its (empty) outcome.
        return self.group(msg, reply_to, records)

    async def _reject_whole(
        self, msg: Msg, seq: int, reply_to: str | None, reason: str, status: int
    ) -> None:
        metrics.RECORDS.labels(self.kind, "rejected").inc()
        if reply_to is not None:
            detail = self.detail(reason)
            await publish_reply(self._nc, reply_to, msgspec.json.encode(error(status, detail)))
            return
        metrics.DEADLETTERS.labels(self.kind).inc()
        await dead_letter(self._js, STAGE, msg.data, reason, msg.subject, seq)

    async def _publish(self, groups: list[tuple[G, int]]) -> None:
        """Publish groups in batches that stay under the server's message size.

        A group's size is bounded by its collect message's, since msgpack of validated
        records is smaller than their JSON.
        """
        limit = self._nc.max_payload // 2
        batches: list[list[G]] = []
        size = limit
        for group, approx in groups:
            if size + approx > limit:
                batches.append([])
                size = 0
            batches[-1].append(group)
            size += approx
        await asyncio.gather(*(self._publish_batch(b) for b in batches))

    async def _publish_batch(self, groups: list[G]) -> None:
        payload = self._encoder.encode(self.batch(groups))
        first, last = self.origin_seq(groups[0]), self.origin_seq(groups[-1])
        msg_id = f"{self.kind}-{first}-{last}-{len(groups)}"
        await self._js.publish(self.subject, payload, headers={bus.HDR_MSG_ID: msg_id})
