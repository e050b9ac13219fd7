"""Crash, restart and rolling update: traffic-store is killed or stopped, or its database
is killed, while collectors keep publishing.

Every event accepted by JetStream (PubAck) must end up stored exactly once: one row per
distinct flow and each event counted once in its flow's hits.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import nats
import pytest

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import (
    TRAFFIC_FLOWS,
    TRAFFIC_PER_MESSAGE,
    RestartableServer,
    all_traffic_stored,
    eventually,
    publish_traffic,
    settled_health,
    stored_traffic,
    traffic_message,
    traffic_services,
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
        rows, hits = await all_traffic_stored(api, acked, timeout=120)
        assert rows == TRAFFIC_FLOWS
        assert hits == acked
    await nc.close()


@pytest.fixture
def services_on_own_mongo(
    restartable_mongo: RestartableServer, stack_env: dict[str, str], tmp_path: Path
) -> Iterator[ServiceSet]:
    """ingest, traffic-store and the gateway on a database the test may kill."""
    services = traffic_services(
        stack_env | {"MONGODB_URL": restartable_mongo.url}, tmp_path / "service-logs"
    )
    yield services
    services.stop_all()


async def test_a_database_crash_is_ridden_out(
    services_on_own_mongo: ServiceSet, restartable_mongo: RestartableServer
) -> None:
    """kill -9 of the database mid-stream: traffic-store says ``degraded`` (alive, not
    ready) until it is back, then stores every accepted event exactly once."""
    stack = services_on_own_mongo
    nc = await nats.connect(stack.env["NATS_URL"])
    js = nc.jetstream()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        acked = await publish_traffic(js, range(0, MESSAGES // 3), "db-crash")
        await eventually(lambda: stored_traffic(api), lambda t: t[1] > 0, what="first writes")
        await asyncio.to_thread(restartable_mongo.kill)
        acked += await publish_traffic(js, range(MESSAGES // 3, MESSAGES), "db-crash")
        assert await settled_health(stack, "traffic_store") == ("degraded", 503, 200)
        await asyncio.to_thread(restartable_mongo.start)
        rows, hits = await all_traffic_stored(api, acked, timeout=120)
        assert (rows, hits) == (TRAFFIC_FLOWS, MESSAGES * TRAFFIC_PER_MESSAGE)
        assert await settled_health(stack, "traffic_store") == ("ok", 200, 200)
    await nc.close()


async def test_sigterm_drains_traffic_store_mid_stream(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """A rolling update: SIGTERM while batches are in hand. The process finishes and acks
    what it holds, exits 0, and its successor stores the rest, each event once."""
    stack = traffic_services(stack_env, tmp_path / "service-logs")
    try:
        nc = await nats.connect(stack.env["NATS_URL"])
        js = nc.jetstream()
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
            acked = await publish_traffic(js, range(0, MESSAGES // 2), "rolling")
            await eventually(lambda: traffic_totals(api), lambda t: t[1] > 0, what="first writes")
            publisher = asyncio.create_task(
                publish_traffic(js, range(MESSAGES // 2, MESSAGES), "rolling")
            )
            old = stack.procs["traffic_store"]
            old.signal(signal.SIGTERM)
            assert old.popen is not None
            code = await asyncio.to_thread(old.popen.wait, 30)
            assert code == 0, old.log_tail()
            acked += await publisher
            await asyncio.to_thread(stack.start, "traffic_store")
            rows, hits = await all_traffic_stored(api, acked, timeout=120)
            assert (rows, hits) == (TRAFFIC_FLOWS, MESSAGES * TRAFFIC_PER_MESSAGE)
        await nc.close()
    finally:
        stack.stop_all()
