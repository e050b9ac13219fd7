"""Contract tests: the live feed at ``WS /ws`` as Kure Monitor's own clients use it.

Pinned upstream (``Nan0C0de/kure-monitor``), commit 531f0287ec468ee214d06354f8d7b134a3bc48c1:
- ``backend/services/websocket.py``: message types and ``data`` shapes; credentials are the
  ``kure_session`` cookie or ``?token=``; refused with ``close(4001)`` before ``accept``
  (the client sees HTTP 403); client frames are read and ignored.
- ``agent/clients/websocket_client.py``: aiohttp ``ws_connect(f"{url}/ws?token={token}")``;
  reads ``namespace_exclusion_change`` and ``pod_exclusion_change``.
- ``security-scanner/services/websocket_client.py``: the same with ``heartbeat=30`` (and
  its own pings); reads ``rule_exclusion_change``, ``trusted_registry_change``,
  ``security_rescan_request``.
- ``frontend/src/hooks/useWebSocket.js``: the browser opens ``/ws`` with the cookie.
The newest stored agent and scanner clients send ``X-Service-Token`` instead of
``?token=`` (``AGENT_AUTH_VIA_HEADER``, default true): both forms are tested.

Everything runs against real NATS, MongoDB and Redis; feed events are published to the
``FEED`` stream as the services publish them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple

import aiohttp
import httpx
import msgspec
import pytest
from litestar import Litestar
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from kubeward.devstack.testing import eventually, serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.kure_feed import KureRelay
from kubeward.gateway.settings import Settings
from kubeward.gateway.ws_protocol import FeedSocketProtocol
from kubeward.schemas import bus

TOKEN = "kure-service-token"
ADMIN = {"username": "root", "password": "correct horse battery"}
RECV_TIMEOUT = 15.0


class Gw(NamedTuple):
    """A served gateway: its HTTP and WebSocket base URLs and the app."""

    http: str
    ws: str
    app: Litestar


GatewayFactory = Callable[[], AbstractAsyncContextManager[Gw]]
Backing = Callable[..., AbstractAsyncContextManager[None]]


@pytest.fixture
def kure_gateway(gateway_settings: Settings) -> GatewayFactory:
    """``async with kure_gateway() as gw``: a gateway on the test's NATS, MongoDB, Redis."""
    settings = msgspec.structs.replace(
        gateway_settings, service_token=TOKEN, request_timeout_seconds=5.0
    )

    @asynccontextmanager
    async def start() -> AsyncIterator[Gw]:
        app = create_app(settings)
        async with serve_asgi(app, ws=FeedSocketProtocol) as url:
            yield Gw(url, "ws" + url.removeprefix("http"), app)

    return start


async def attached(app: Litestar, count: int) -> None:
    """Wait until ``count`` sockets are attached to the app's ``/ws`` relay."""
    relay: KureRelay = app.state.kure_feed

    async def probe() -> int:
        return relay.clients

    await eventually(probe, lambda n: n == count, what=f"{count} /ws clients attached")


async def publish(nc: NATS, event_type: str, data: Any) -> None:
    """A feed event as the services publish it (JetStream, ``kubeward.feed.<type>``)."""
    body = msgspec.json.encode({"type": event_type, "data": data})
    await nc.jetstream().publish(bus.feed_subject(event_type), body)


async def aiohttp_frames(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[Any]:
    """The next ``n`` text frames an aiohttp client reads, decoded."""
    frames = []
    for _ in range(n):
        msg = await asyncio.wait_for(ws.receive(), RECV_TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frames.append(msgspec.json.decode(msg.data))
    return frames


def gauge() -> float:
    """The current value of ``kure_websocket_connections_active``."""
    return REGISTRY.get_sample_value("kure_websocket_connections_active") or 0.0


async def test_agent_and_scanner_get_kures_messages_in_kures_names(
    kure_gateway: GatewayFactory, nc: NATS
) -> None:
    async with (
        kure_gateway() as gw,
        aiohttp.ClientSession() as agent_session,
        aiohttp.ClientSession() as scanner_session,
        aiohttp.ClientSession() as new_agent_session,
    ):
        agent = await agent_session.ws_connect(f"{gw.ws}/ws?token={TOKEN}")
        scanner = await scanner_session.ws_connect(f"{gw.ws}/ws?token={TOKEN}", heartbeat=30)
        new_agent = await new_agent_session.ws_connect(
            f"{gw.ws}/ws", headers={"X-Service-Token": TOKEN}, heartbeat=30
        )
        await attached(gw.app, 3)
        await scanner.ping()  # the scanner's keepalive: answered, never a frame
        await agent.send_str("ping")  # text from a client is read and ignored
        partial_status = {"id": 424242, "namespace": "prod", "pod_name": "web-1", "status": "x"}
        await publish(nc, "namespace_exclusion", {"namespace": "kube-system", "action": "excluded"})
        await publish(nc, "pod_exclusion", {"pod_name": "test-*", "action": "included"})
        await publish(nc, "pod_traffic", {"pod_name": "web-1", "pod_namespace": "prod"})
        await publish(nc, "security_rescan_request", {})
        await publish(
            nc, "rule_exclusion_change", {"rule_title": "R", "namespace": None, "action": "x"}
        )
        await publish(nc, "trusted_registry_change", {"registry": "ghcr.io", "action": "added"})
        await publish(nc, "pod_status_change", partial_status)
        await publish(nc, "pod_deleted", {"namespace": "prod", "pod_name": "web-1"})
        expected = [
            {
                "type": "namespace_exclusion_change",
                "data": {"namespace": "kube-system", "action": "excluded"},
            },
            {"type": "pod_exclusion_change", "data": {"pod_name": "test-*", "action": "included"}},
            {"type": "security_rescan_request", "data": {}},
            {
                "type": "rule_exclusion_change",
                "data": {"rule_title": "R", "namespace": None, "action": "x"},
            },
            {"type": "trusted_registry_change", "data": {"registry": "ghcr.io", "action": "added"}},
            # No failure-analyzer answers here: the event's own fields go.
            {"type": "pod_status_change", "data": partial_status},
            {"type": "pod_deleted", "data": {"namespace": "prod", "pod_name": "web-1"}},
        ]
        for ws in (agent, scanner, new_agent):
            assert await aiohttp_frames(ws, len(expected)) == expected
        for ws in (agent, scanner, new_agent):
            await ws.close()
        await attached(gw.app, 0)


async def test_a_wrong_or_missing_token_is_refused_before_the_handshake(
    kure_gateway: GatewayFactory,
) -> None:
    async with kure_gateway() as gw, aiohttp.ClientSession() as session:
        for url, headers in (
            (f"{gw.ws}/ws?token=wrong", {}),
            (f"{gw.ws}/ws", {}),
            (f"{gw.ws}/ws", {"X-Service-Token": "wrong"}),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, headers=headers)
            assert refused.value.status == 403  # what Kure's close-before-accept gives
        with pytest.raises(InvalidStatus) as invalid:
            await connect(f"{gw.ws}/ws", proxy=None, open_timeout=10)
        assert invalid.value.response.status_code == 403
        relay: KureRelay = gw.app.state.kure_feed
        assert relay.clients == 0


async def test_the_dashboard_connects_with_its_session_cookie(
    kure_gateway: GatewayFactory, nc: NATS
) -> None:
    async with kure_gateway() as gw, httpx.AsyncClient(base_url=gw.http) as http:
        setup = await http.post("/api/auth/setup", json=ADMIN)
        assert setup.status_code == 200, setup.text
        cookie = http.cookies["kure_session"]
        browser = {"Cookie": f"kure_session={cookie}", "Origin": gw.http}
        async with connect(
            f"{gw.ws}/ws", proxy=None, open_timeout=10, additional_headers=browser
        ) as ws:
            await attached(gw.app, 1)
            finding = {"id": 7, "severity": "high", "namespace": "prod", "title": "t"}
            await publish(nc, "security_finding", finding)
            frame = msgspec.json.decode(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
            assert frame == {"type": "security_finding", "data": finding}
        forged = {"Cookie": "kure_session=abc.def", "Origin": gw.http}
        with pytest.raises(InvalidStatus):
            await connect(f"{gw.ws}/ws", proxy=None, open_timeout=10, additional_headers=forged)


REPORT: dict[str, Any] = {
    "pod_name": "web-5f7c9d8b6-zt4qp",
    "namespace": "default",
    "node_name": "worker-1",
    "phase": "Pending",
    "creation_timestamp": "2026-11-22T09:00:00+00:00",
    "failure_reason": "ImagePullBackOff",
    "failure_message": 'Back-off pulling image "nginx:1.99-doesnotexist"',
    "container_statuses": [],
    "events": [],
    "logs": "",
    "manifest": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5f7c9d8b6-zt4qp\n",
}


async def test_status_changes_carry_the_whole_record_as_kures_do(
    kure_gateway: GatewayFactory, backing: Backing
) -> None:
    async with (
        backing("ingest", "failure-analyzer"),
        kure_gateway() as gw,
        httpx.AsyncClient(base_url=gw.http, timeout=30) as http,
        aiohttp.ClientSession() as session,
    ):
        assert (await http.post("/api/auth/setup", json=ADMIN)).status_code == 200
        kure = await session.ws_connect(f"{gw.ws}/ws?token={TOKEN}")
        reference = await session.ws_connect(f"{gw.ws}/api/ws?token={TOKEN}")
        await attached(gw.app, 1)
        await eventually(lambda: _hub_clients(gw.app), lambda n: n == 1, what="/api/ws")
        resp = await http.post("/api/pods/failed", json=REPORT, headers={"X-Service-Token": TOKEN})
        assert resp.status_code == 200, resp.text
        record = resp.json()
        changed = await http.put(
            f"/api/pods/{record['id']}/status", json={"status": "investigating"}
        )
        assert changed.status_code == 200, changed.text
        first, second = await aiohttp_frames(kure, 2)
        assert first["type"] == "pod_failure" and first["data"]["id"] == record["id"]
        assert second["type"] == "pod_status_change"
        assert second["data"]["id"] == record["id"]
        assert second["data"]["status"] == "investigating"
        assert second["data"]["failure_reason"] == "ImagePullBackOff"  # the whole record
        assert second["data"]["pod_name"] == REPORT["pod_name"]
        ref = await aiohttp_frames(reference, 2)
        assert [f["type"] for f in ref] == ["pod_failure", "pod_status_change"]
        # /api/ws: the reference's {id, status}; the feed event now carries the whole record
        assert (ref[1]["data"]["id"], ref[1]["data"]["status"]) == (record["id"], "investigating")
        assert ref[1]["seq"] > ref[0]["seq"]
        await kure.close()
        await reference.close()


async def _hub_clients(app: Litestar) -> int:
    return int(app.state.feed.clients)


async def test_the_kure_connection_gauge_counts_both_feeds(
    kure_gateway: GatewayFactory,
) -> None:
    async with kure_gateway() as gw, aiohttp.ClientSession() as session:
        before = gauge()
        kure = await session.ws_connect(f"{gw.ws}/ws?token={TOKEN}")
        reference = await session.ws_connect(f"{gw.ws}/api/ws?token={TOKEN}")

        async def scraped() -> float:
            async with httpx.AsyncClient(base_url=gw.http) as http:
                text = (await http.get("/metrics")).text
            name = "kure_websocket_connections_active "
            lines = [ln for ln in text.splitlines() if ln.startswith(name)]
            return float(lines[0].split()[1])

        await eventually(scraped, lambda v: v == before + 2, what="two feed sockets counted")
        await kure.close()
        await reference.close()
        await eventually(scraped, lambda v: v == before, what="both sockets uncounted")


async def test_a_relay_held_up_by_a_slow_lookup_resumes_without_a_gap(
    kure_gateway: GatewayFactory, nc: NATS
) -> None:
    release = asyncio.Event()
    asked: list[int] = []

    async def slow_lookup(record_id: int) -> msgspec.Raw | None:
        asked.append(record_id)
        await release.wait()  # failure-analyzer taking its time
        return msgspec.Raw(msgspec.json.encode({"id": record_id, "failure_reason": "OOMKilled"}))

    async with kure_gateway() as gw:
        relay = KureRelay(gw.app.state.feed, slow_lookup, client_queue=100, relay_queue=5)
        await relay.start()
        received: list[str] = []
        client = relay.attach()
        pump = asyncio.create_task(client.pump(_append_to(received)))
        try:
            await publish(nc, "pod_status_change", {"id": 5, "status": "resolved"})
            await eventually(_async(lambda: len(asked)), lambda n: n == 1, what="lookup asked")
            for i in range(20):  # more than the relay's queue while it waits
                await publish(nc, "pod_deleted", {"namespace": "prod", "pod_name": f"p{i}"})
            hub = gw.app.state.feed
            await eventually(_async(lambda: hub.last_seq), lambda s: s >= 21, what="published")
            release.set()
            await eventually(_async(lambda: len(received)), lambda n: n >= 21, what="relayed")
            frames = [msgspec.json.decode(f) for f in received]
            assert frames[0] == {
                "type": "pod_status_change",
                "data": {"id": 5, "failure_reason": "OOMKilled"},
            }
            names = [f["data"]["pod_name"] for f in frames[1:]]
            assert names == [f"p{i}" for i in range(20)]  # none lost, none twice
            assert relay.resumed == 1  # it did fall behind
            assert hub.lagged_total == 0 and hub.clients == 0  # a relay is not a client
        finally:
            pump.cancel()
            await relay.stop()


def _append_to(frames: list[str]) -> Callable[[str], Any]:
    async def send(data: str) -> None:
        frames.append(data)

    return send


def _async(value: Callable[[], int]) -> Callable[[], Any]:
    async def probe() -> int:
        return value()

    return probe
