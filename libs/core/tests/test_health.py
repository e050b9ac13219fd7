"""Health in three states: ``ok``, ``degraded`` (a dependency is away; the service waits)
and ``unhealthy`` (a loop is stuck; only a new process helps), over HTTP and on the bus."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kubeward.core.batch_worker import BatchWorker
from kubeward.core.bus import ensure_streams
from kubeward.core.health import DEGRADED, OK, UNHEALTHY, Check, HealthServer, health_report
from kubeward.core.service import watchdog
from kubeward.devstack.testing import eventually
from kubeward.schemas import bus


def _answer(value: bool) -> Check:
    async def check() -> bool:
        return value

    return check


async def _raises() -> bool:
    raise ConnectionError("no route to host")


async def test_status_is_degraded_when_a_dependency_fails_and_unhealthy_when_a_loop_is_stuck() -> (
    None
):
    ok = await health_report("svc", {"nats": _answer(True)}, {"loop": _answer(True)})
    assert (ok.status, ok.checks) == (OK, {"nats": True, "live:loop": True})
    degraded = await health_report("svc", {"nats": _answer(True), "mongodb": _raises})
    assert degraded.status == DEGRADED
    assert degraded.checks == {"nats": True, "mongodb": False}
    stuck = await health_report("svc", {"mongodb": _raises}, {"loop": _answer(False)})
    assert stuck.status == UNHEALTHY


async def test_health_is_503_unless_ok_and_live_is_503_only_when_unhealthy() -> None:
    checks = {"mongodb": _answer(True)}
    liveness = {"loop": _answer(True)}
    server = HealthServer("svc", "127.0.0.1", 0, checks, liveness=liveness)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:

            async def codes() -> tuple[int, int, str]:
                health = await client.get("/health")
                live = await client.get("/live")
                return health.status_code, live.status_code, health.json()["status"]

            assert await codes() == (200, 200, OK)
            checks["mongodb"] = _raises
            assert await codes() == (503, 200, DEGRADED)
            liveness["loop"] = _answer(False)
            assert await codes() == (503, 503, UNHEALTHY)
    finally:
        await server.stop()


async def test_watchdog_fires_after_consecutive_failures_only() -> None:
    answers = [False, True, False, False, False, False]
    calls = 0

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        return answers[calls - 1]

    failing = await asyncio.wait_for(watchdog({"loop": flaky}, 0.01, 3), 5)
    assert failing == "loop"
    assert calls == 5, "a passing check in between starts the count again"


async def test_a_worker_whose_loop_stopped_coming_round_is_not_live(nc: NATS) -> None:
    """A handler that swallows its cancellation keeps the pull loop from coming round;
    the worker is then reported not live (the fetches still reached the server)."""
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    release = asyncio.Event()

    async def stubborn(_msgs: list[Msg]) -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    worker = BatchWorker(
        js,
        stream="COLLECT",
        durable="stubborn",
        filter_subject="kubeward.collect.test",
        handler=stubborn,
        stage="test",
        ack_wait=0.5,
        handler_timeout=0.5,
    )
    await worker.start()
    assert await worker.is_moving()
    await js.publish("kubeward.collect.test", b"x")
    await eventually(
        worker.is_moving, lambda live: not live, timeout=10, what="loop reported stuck"
    )
    assert await worker.is_healthy()
    release.set()
    await eventually(worker.is_moving, bool, timeout=10, what="loop moving again")
    await worker.stop()


async def test_an_unknown_path_is_404_and_a_taken_port_fails_the_start() -> None:
    server = HealthServer("svc", "127.0.0.1", 0, {})
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/health")).status_code == 405
        second = HealthServer("svc", "127.0.0.1", server.port, {})
        with pytest.raises(OSError, match="in use"):
            await second.start()
    finally:
        await server.stop()
