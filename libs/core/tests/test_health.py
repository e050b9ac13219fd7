"""Health in three states: ``ok``, ``degraded`` (a dependency is away; the service waits)
and ``unhealthy`` (a loop is stuck; only a new process helps), over HTTP and on the bus."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kubeward.core.health import DEGRADED, OK, UNHEALTHY, Check, HealthServer, health_report
from kubeward.core.service import watchdog


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
