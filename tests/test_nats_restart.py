"""A nats-server restart (same store) while collectors publish: every service resumes.

Before the bounded waits, traffic-store could wait forever for a PubAck lost in the restart
(its keep-alive holding the batch in progress) while its ``/health`` said ok. While the
server is away every service says ``degraded`` (not ready, still alive), ``ok`` after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import (
    TRAFFIC_FLOWS,
    TRAFFIC_PER_MESSAGE,
    TRAFFIC_SERVICES,
    RestartableServer,
    all_traffic_stored,
    eventually,
    publish_traffic,
    settled_health,
    traffic_services,
    traffic_totals,
)

MESSAGES = 90


@pytest.fixture
def traffic_stack(
    restartable_nats: RestartableServer, stack_env: dict[str, str], tmp_path: Path
) -> Iterator[ServiceSet]:
    """ingest, traffic-store and the gateway on the restartable server."""
    env = stack_env | {"NATS_URL": restartable_nats.url}
    services = traffic_services(env, tmp_path / "service-logs")
    yield services
    services.stop_all()


async def test_services_resume_after_a_nats_restart(
    traffic_stack: ServiceSet, restartable_nats: RestartableServer
) -> None:
    nc = await nats.connect(restartable_nats.url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    async with httpx.AsyncClient(base_url=traffic_stack.gateway_url, timeout=30) as api:
        acked = await publish_traffic(js, range(0, MESSAGES // 3), "restart")
        await eventually(lambda: traffic_totals(api), lambda t: t[1] > 0, what="first writes")
        publisher = asyncio.create_task(
            publish_traffic(js, range(MESSAGES // 3, MESSAGES), "restart")
        )
        await asyncio.to_thread(restartable_nats.stop)
        for name in TRAFFIC_SERVICES:
            assert await settled_health(traffic_stack, name) == ("degraded", 503, 200), name
        await asyncio.to_thread(restartable_nats.start)
        acked += await publisher
        assert acked == MESSAGES * TRAFFIC_PER_MESSAGE
        rows, hits = await all_traffic_stored(api, acked, timeout=90)
        assert rows == TRAFFIC_FLOWS
        assert hits == acked
    for name in TRAFFIC_SERVICES:
        assert await settled_health(traffic_stack, name) == ("ok", 200, 200), name
    await nc.close()
