"""Crash and restart: traffic-store is killed while collectors keep publishing.

Every event accepted by JetStream (PubAck) must end up stored exactly once: one row per
distinct flow and each event counted once in its flow's hits.
"""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import nats

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import (
    TRAFFIC_FLOWS,
    TRAFFIC_PER_MESSAGE,
    eventually,
    traffic_message,
    traffic_totals,
)
from kubeward.schemas import bus

MESSAGES = 120


async def test_traffic_store_crash_loses_and_duplicates_nothing(stack: ServiceSet) -> None:
    nc = await nats.connect(stack.env["NATS_URL"])
    js = nc.jetstream()
    acked = 0

    async def publish(start: int, stop: int) -> None:
        nonlocal acked
        for m in range(start, stop):
            ack = await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(traffic_message(m)))
            assert not ack.duplicate
            acked += TRAFFIC_PER_MESSAGE

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        await publish(0, MESSAGES // 3)
        # Some of the first third is stored; then the store dies mid-stream.
        await eventually(lambda: traffic_totals(api), lambda t: t[1] > 0, what="first writes")
        publisher = asyncio.create_task(publish(MESSAGES // 3, MESSAGES))
        await asyncio.to_thread(stack.kill, "traffic_store")
        await publisher
        assert acked == MESSAGES * TRAFFIC_PER_MESSAGE
        await asyncio.to_thread(stack.start, "traffic_store")
        rows, hits = await eventually(
            lambda: traffic_totals(api),
            lambda t: t[1] >= acked,
            timeout=120,
            what="every accepted event stored",
        )
        assert rows == TRAFFIC_FLOWS
        assert hits == acked
    await nc.close()
