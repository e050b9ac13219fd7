"""Turning fetched collect messages into internal stream batches, dead letters and replies.

Rule for records that fail validation:
- bus input: every valid record goes on; each invalid one is dead-lettered on its own with
  the reason and its original bytes;
- HTTP input (the gateway set ``Kubeward-Reply-To``): all or nothing; one invalid record
  rejects the message with a 400 naming each bad record, and nothing is stored, so the
  caller can fix and resend the whole batch.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.bus import dead_letter, publish_reply, stream_seq
from kubeward.ingest import metrics, pod_traffic
from kubeward.schemas import bus
from kubeward.schemas.replies import error
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficGroup

log = logging.getLogger(__name__)

STAGE = "ingest"
_MAX_REJECTS_IN_DETAIL = 20


class PodTrafficRouter:
    """Batch handler for ``kubeward.collect.pod-traffic``."""

    kind = "pod-traffic"

    def __init__(self, nc: NATS, js: JetStreamContext, max_records: int) -> None:
        self._nc = nc
        self._js = js
        self._max_records = max_records
        self._encoder = msgspec.msgpack.Encoder()

    async def __call__(self, msgs: list[Msg]) -> None:
        """Validate every message, publish the good records, dead-letter or answer the bad."""
        groups: list[tuple[PodTrafficGroup, int]] = []
        for msg in msgs:
            metrics.MESSAGES.labels(self.kind).inc()
            group = await self._route_one(msg)
            if group is not None:
                groups.append((group, len(msg.data)))
        await self._publish(groups)

    async def _route_one(self, msg: Msg) -> PodTrafficGroup | None:
        seq = stream_seq(msg)
        reply_to = (msg.headers or {}).get(bus.HDR_REPLY_TO)
        records = pod_traffic.count_records(msg.data)
        if records > self._max_records:
            reason = f"message holds {records} records; the limit is {self._max_records}"
            await self._reject_whole(msg, seq, reply_to, reason, status=413)
            return None
        try:
            events, rejects = pod_traffic.parse(msg.data)
        except ValueError as exc:
            await self._reject_whole(msg, seq, reply_to, str(exc), status=400)
            return None
        if rejects:
            metrics.RECORDS.labels(self.kind, "rejected").inc(len(rejects))
            if reply_to is not None:
                shown = "; ".join(r.reason for r in rejects[:_MAX_REJECTS_IN_DETAIL])
                more = len(rejects) - _MAX_REJECTS_IN_DETAIL
                detail = f"Invalid pod traffic: {shown}" + (
                    f"; and {more} more" if more > 0 else ""
                )
                await publish_reply(self._nc, reply_to, msgspec.json.encode(error(400, detail)))
                return None
            for reject in rejects:
                metrics.DEADLETTERS.labels(self.kind).inc()
                await dead_letter(self._js, STAGE, reject.data, reject.reason, msg.subject, seq)
        metrics.RECORDS.labels(self.kind, "accepted").inc(len(events))
        if not events and reply_to is None:
            return None
        return PodTrafficGroup(origin_seq=seq, reply_to=reply_to, events=events)

    async def _reject_whole(
        self, msg: Msg, seq: int, reply_to: str | None, reason: str, status: int
    ) -> None:
        metrics.RECORDS.labels(self.kind, "rejected").inc()
        if reply_to is not None:
            await publish_reply(self._nc, reply_to, msgspec.json.encode(error(status, reason)))
            return
        metrics.DEADLETTERS.labels(self.kind).inc()
        await dead_letter(self._js, STAGE, msg.data, reason, msg.subject, seq)

    async def _publish(self, groups: list[tuple[PodTrafficGroup, int]]) -> None:
        """Publish groups in batches that stay under the server's message size."""
        limit = self._nc.max_payload // 2
        pending: list[PodTrafficGroup] = []
        size = 0
        publishes = []
        for group, approx in groups:
            if pending and size + approx > limit:
                publishes.append(self._publish_batch(pending))
                pending, size = [], 0
            pending.append(group)
            size += approx
        if pending:
            publishes.append(self._publish_batch(pending))
        await asyncio.gather(*publishes)

    async def _publish_batch(self, groups: list[PodTrafficGroup]) -> None:
        payload = self._encoder.encode(PodTrafficBatch(groups=groups))
        msg_id = f"pod-{groups[0].origin_seq}-{groups[-1].origin_seq}-{len(groups)}"
        await self._js.publish(bus.TRAFFIC_POD, payload, headers={bus.HDR_MSG_ID: msg_id})
