"""A nats-server restart (same store) while collectors publish: every service resumes.

Before the bounded waits, traffic-store could wait forever for a PubAck lost in the restart
(its keep-alive holding the batch in progress) while its ``/health`` said ok.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from kubeward.devstack import infra
from kubeward.devstack.procs import Proc, free_port, http_ok
from kubeward.devstack.services import ServiceSet, pick_ports
from kubeward.devstack.testing import (
    TRAFFIC_FLOWS,
    TRAFFIC_PER_MESSAGE,
    eventually,
    publish_traffic,
    stored_traffic,
    traffic_totals,
)

MESSAGES = 90


class RestartableNats:
    """A nats-server on a fixed port and store that a test can stop and start again."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.store = tmp_path / "jetstream"
        self.logs = tmp_path
        self.proc: Proc = infra.nats(self.port, self.store, self.logs)

    @property
    def url(self) -> str:
        """The server's URL (the same across restarts)."""
        return f"nats://127.0.0.1:{self.port}"

    def restart(self) -> None:
        """SIGTERM, wait for the exit, start again on the same port and store."""
        self.proc.signal(signal.SIGTERM)
        self.proc.stop()
        self.proc = infra.nats(self.port, self.store, self.logs)


@pytest.fixture
def restartable_nats(tmp_path: Path) -> Iterator[RestartableNats]:
    """Its own nats-server, since the shared fixture's cannot be restarted."""
    server = RestartableNats(tmp_path)
    yield server
    server.proc.stop()


@pytest.fixture
def traffic_stack(
    restartable_nats: RestartableNats, stack_env: dict[str, str], tmp_path: Path
) -> Iterator[ServiceSet]:
    """ingest, traffic-store and the gateway on the restartable server."""
    env = stack_env | {"NATS_URL": restartable_nats.url}
    services = ServiceSet(env, pick_ports(free_port()), tmp_path / "service-logs")
    try:
        for name in ("ingest", "traffic_store", "gateway"):
            services.start(name, wait=False)
        for name in ("ingest", "traffic_store", "gateway"):
            services.wait_healthy(name)
        yield services
    finally:
        services.stop_all()


async def test_services_resume_after_a_nats_restart(
    traffic_stack: ServiceSet, restartable_nats: RestartableNats
) -> None:
    nc = await nats.connect(restartable_nats.url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    async with httpx.AsyncClient(base_url=traffic_stack.gateway_url, timeout=30) as api:
        acked = await publish_traffic(js, range(0, MESSAGES // 3), "restart")
        await eventually(lambda: traffic_totals(api), lambda t: t[1] > 0, what="first writes")
        publisher = asyncio.create_task(
            publish_traffic(js, range(MESSAGES // 3, MESSAGES), "restart")
        )
        await asyncio.to_thread(restartable_nats.restart)
        acked += await publisher
        assert acked == MESSAGES * TRAFFIC_PER_MESSAGE
        rows, hits = await eventually(
            lambda: stored_traffic(api),
            lambda t: t[1] >= acked,
            timeout=90,
            what="every accepted event stored",
        )
        assert rows == TRAFFIC_FLOWS
        assert hits == acked
    for name in ("ingest", "traffic_store"):
        url = traffic_stack.health_url(name)
        await eventually(lambda u=url: asyncio.to_thread(http_ok, u), bool, what=f"{name} healthy")
    await nc.close()
