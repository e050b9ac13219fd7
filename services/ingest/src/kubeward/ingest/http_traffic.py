"""arkyn HTTP traffic: validation and routing of ``kubeward.collect.http-traffic.<sourceId>``.

A collect message holds one HttpTraffic body (or, from collectors, a JSON array of them);
the subject's last token is the trafficSourceId. Invalid input from HTTP (the gateway set
``Kubeward-Reply-To``) is answered with a 400 naming the field and nothing goes on; invalid
bus input is dead-lettered record by record with the reason. Valid records are published
to ``kubeward.traffic.http`` with the origin sequence and time, from which traffic-store
derives each record's stable id and ``createdAt``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.bus import dead_letter, publish_reply, stream_seq
from kubeward.ingest import metrics
from kubeward.ingest.pod_traffic import Reject
from kubeward.schemas import bus
from kubeward.schemas.http_traffic import (
    HTTP_METHODS,
    HttpTrafficBatch,
    HttpTrafficGroup,
    HttpTrafficIn,
    is_id_token,
)
from kubeward.schemas.replies import error

STAGE = "ingest"
KIND = "http-traffic"

_one = msgspec.json.Decoder(HttpTrafficIn)
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def source_id(subject: str) -> str:
    """The trafficSourceId a collect subject names; ``ValueError`` when it names none."""
    token = subject[len(bus.COLLECT_HTTP_TRAFFIC_PREFIX) :]
    if not subject.startswith(bus.COLLECT_HTTP_TRAFFIC_PREFIX) or not is_id_token(token):
        raise ValueError(f"trafficSourceId: {token!r} is not a valid id")
    return token


def normalise(record: HttpTrafficIn) -> HttpTrafficIn:
    """Check what the schema cannot express; ``ValueError`` naming the field."""
    method = record.method.upper()
    if method not in HTTP_METHODS:
        raise ValueError(
            f"method: {record.method!r} is not one of {', '.join(sorted(HTTP_METHODS))}"
        )
    record.method = method
    return record


def decode_one(data: bytes | msgspec.Raw) -> HttpTrafficIn:
    """Decode and check one record; ``ValueError`` naming the field when it is invalid.

    Raises ``msgspec.DecodeError`` when ``data`` is not JSON.
    """
    try:
        return normalise(_one.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$.", "`").replace("`$`", "body")) from None


def parse(data: bytes) -> tuple[list[HttpTrafficIn], list[Reject]]:
    """Split one collect message (a record or an array of records) into good and bad ones.

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
    records: list[HttpTrafficIn] = []
    rejects: list[Reject] = []
    for index, raw in enumerate(raws):
        try:
            records.append(decode_one(raw))
        except ValueError as exc:
            rejects.append(Reject(index, f"[{index}] {exc}", bytes(raw)))
    return records, rejects


def origin_us(msg: Msg) -> int:
    """The stream timestamp of a JetStream message, in Unix microseconds."""
    return (msg.metadata.timestamp - _EPOCH) // timedelta(microseconds=1)


class HttpTrafficRouter:
    """Batch handler for ``kubeward.collect.http-traffic.*``."""

    kind = KIND

    def __init__(self, nc: NATS, js: JetStreamContext, max_records: int) -> None:
        self._nc = nc
        self._js = js
        self._max_records = max_records
        self._encoder = msgspec.msgpack.Encoder()

    async def __call__(self, msgs: list[Msg]) -> None:
        """Validate every message, publish the good records, dead-letter or answer the bad."""
        groups: list[HttpTrafficGroup] = []
        for msg in msgs:
            metrics.MESSAGES.labels(self.kind).inc()
            group = await self._route_one(msg)
            if group is not None:
                groups.append(group)
        await self._publish(groups)

    async def _route_one(self, msg: Msg) -> HttpTrafficGroup | None:
        seq = stream_seq(msg)
        reply_to = (msg.headers or {}).get(bus.HDR_REPLY_TO)
        try:
            source = source_id(msg.subject)
            records, rejects = parse(msg.data)
        except ValueError as exc:
            await self._reject_whole(msg, seq, reply_to, f"Invalid HTTP traffic: {exc}", 400)
            return None
        if len(records) + len(rejects) > self._max_records:
            reason = f"message holds {len(records) + len(rejects)} records; the limit is "
            await self._reject_whole(msg, seq, reply_to, reason + str(self._max_records), 413)
            return None
        if rejects:
            metrics.RECORDS.labels(self.kind, "rejected").inc(len(rejects))
            if reply_to is not None:
                detail = "Invalid HTTP traffic: " + "; ".join(r.reason for r in rejects[:20])
                await publish_reply(self._nc, reply_to, msgspec.json.encode(error(400, detail)))
                return None
            for reject in rejects:
                metrics.DEADLETTERS.labels(self.kind).inc()
                await dead_letter(self._js, STAGE, reject.data, reject.reason, msg.subject, seq)
        metrics.RECORDS.labels(self.kind, "accepted").inc(len(records))
        if not records:
            return None
        return HttpTrafficGroup(
            origin_seq=seq,
            origin_us=origin_us(msg),
            reply_to=reply_to,
            traffic_source_id=source,
            records=records,
        )

    async def _reject_whole(
        self, msg: Msg, seq: int, reply_to: str | None, reason: str, status: int
    ) -> None:
        metrics.RECORDS.labels(self.kind, "rejected").inc()
        if reply_to is not None:
            await publish_reply(self._nc, reply_to, msgspec.json.encode(error(status, reason)))
            return
        metrics.DEADLETTERS.labels(self.kind).inc()
        await dead_letter(self._js, STAGE, msg.data, reason, msg.subject, seq)

    async def _publish(self, groups: list[HttpTrafficGroup]) -> None:
        """Publish groups in batches that stay under the server's message size."""
        limit = self._nc.max_payload // 2
        batches: list[list[HttpTrafficGroup]] = []
        size = limit
        for group in groups:
            approx = 1024 * len(group.records)  # a record is < 1 KiB: its fields are bounded
            if size + approx > limit:
                batches.append([])
                size = 0
            batches[-1].append(group)
            size += approx
        await asyncio.gather(*(self._publish_batch(batch) for batch in batches))

    async def _publish_batch(self, groups: list[HttpTrafficGroup]) -> None:
        payload = self._encoder.encode(HttpTrafficBatch(groups=groups))
        msg_id = f"http-{groups[0].origin_seq}-{groups[-1].origin_seq}-{len(groups)}"
        await self._js.publish(bus.TRAFFIC_HTTP, payload, headers={bus.HDR_MSG_ID: msg_id})
