"""Integration tests: the live feed ``WS /api/ws`` against a real nats-server.

Gateways are served by uvicorn in the test's loop; clients are ``websockets`` clients.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec
import pytest
from litestar import Litestar
from nats.aio.client import Client as NATS
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kubeward.core.bus import ensure_streams
from kubeward.core.service import serving
from kubeward.devstack.testing import eventually, serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.feed_hub import FeedHub
from kubeward.gateway.settings import Settings as GatewaySettings
from kubeward.gateway.ws_protocol import FeedSocketProtocol
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.schemas import bus
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings as StoreSettings

TOKEN = "feed-token"
RECV_TIMEOUT = 15.0

Gateway = Callable[..., AbstractAsyncContextManager[tuple[str, Litestar]]]


@pytest.fixture
def gateway(nats_url: str, mongo_url: str, mongo_db_name: str, redis_url: str) -> Gateway:
    """Start a gateway (``async with gateway(**settings) as (ws_base, app)``)."""

    @asynccontextmanager
    async def start(**changes: Any) -> AsyncIterator[tuple[str, Litestar]]:
        settings = GatewaySettings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            redis_url=redis_url,
            service_token=TOKEN,
            **changes,
        )
        app = create_app(settings)
        async with serve_asgi(app, ws=FeedSocketProtocol) as base_url:
            yield "ws" + base_url.removeprefix("http"), app

    return start


def ws_url(base: str, **params: str | int) -> str:
    """The feed URL with the token and ``params``."""
    return f"{base}/api/ws?" + urlencode({"token": TOKEN} | params)


def client(url: str, **options: Any) -> connect:
    """A websockets client without proxy look-up."""
    return connect(url, proxy=None, open_timeout=10, **options)


def hub_of(app: Litestar) -> FeedHub:
    """The app's feed hub."""
    hub: FeedHub = app.state.feed
    return hub


async def attached(app: Litestar, count: int) -> None:
    """Wait until ``count`` clients are attached to the app's hub."""
    hub = hub_of(app)

    async def probe() -> int:
        return hub.clients

    await eventually(probe, lambda n: n == count, what=f"{count} feed clients attached")


async def recv(ws: ClientConnection) -> dict[str, Any]:
    """The next frame as JSON (fails after ``RECV_TIMEOUT``)."""
    frame = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
    decoded: dict[str, Any] = msgspec.json.decode(frame)
    return decoded


async def recv_n(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next ``n`` frames."""
    return [await recv(ws) for _ in range(n)]


async def read_until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes; the frames and the close code it sent."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(msgspec.json.decode(await asyncio.wait_for(ws.recv(), 30)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd is not None else None


async def publish(nc: NATS, event_type: str, data: dict[str, Any]) -> int:
    """JetStream-publish one feed message; its stream sequence."""
    body = msgspec.json.encode({"type": event_type, "data": data})
    ack = await nc.jetstream().publish(bus.feed_subject(event_type), body)
    return int(ack.seq)


async def publish_many(nc: NATS, count: int, size: int = 0) -> list[int]:
    """``count`` pod_failure messages, pipelined; their sequences in order."""
    js = nc.jetstream()
    pad = "x" * size
    futures = [
        await js.publish_async(
            bus.feed_subject("pod_failure"),
            msgspec.json.encode(
                {"type": "pod_failure", "data": {"id": i, "namespace": "prod", "pad": pad}}
            ),
        )
        for i in range(count)
    ]
    return [int(ack.seq) for ack in await asyncio.gather(*futures)]


async def test_every_client_on_every_gateway_gets_every_message_in_order(
    gateway: Gateway, nc: NATS
) -> None:
    per_gateway = 25
    async with (
        gateway() as (base_a, app_a),
        gateway() as (base_b, app_b),
        AsyncExitStack() as stack,
    ):
        sockets = [
            await stack.enter_async_context(client(ws_url(base)))
            for base in (base_a, base_b)
            for _ in range(per_gateway)
        ]
        await attached(app_a, per_gateway)
        await attached(app_b, per_gateway)
        first = await publish(nc, "pod_deleted", {"namespace": "default", "pod_name": "web-1"})
        seqs = [first, *await publish_many(nc, 99)]
        results = await asyncio.gather(*(recv_n(ws, 100) for ws in sockets))
        for frames in results:
            assert [f["seq"] for f in frames] == seqs
            assert frames[0] == {
                "type": "pod_deleted",
                "data": {"namespace": "default", "pod_name": "web-1"},
                "seq": first,
            }
            assert [f["data"]["id"] for f in frames[1:]] == list(range(99))


async def test_resume_with_since_has_no_gap_and_no_duplicate(gateway: Gateway, nc: NATS) -> None:
    async with gateway() as (base_a, app_a), gateway() as (base_b, _app_b):
        async with client(ws_url(base_a)) as ws:
            await attached(app_a, 1)
            await publish_many(nc, 10)
            seen = await recv_n(ws, 10)
        last = seen[-1]["seq"]
        # Reconnect to the other gateway while messages keep arriving.
        publisher = asyncio.create_task(publish_many(nc, 300))
        async with client(ws_url(base_b, since=last)) as ws:
            frames = await recv_n(ws, 300)
        await publisher
        assert [f["seq"] for f in frames] == list(range(last + 1, last + 301))


async def test_history_is_bounded_and_preloaded_by_a_new_gateway(
    gateway: Gateway, nc: NATS
) -> None:
    await ensure_streams(nc.jetstream(), bus.STREAMS)
    seqs = await publish_many(nc, 30)
    async with gateway(feed_replay_max=10) as (base, _app):  # starts after the messages
        async with client(ws_url(base, since=seqs[24])) as ws:
            assert [f["seq"] for f in await recv_n(ws, 5)] == seqs[25:]
        async with client(ws_url(base, since=seqs[4])) as ws:
            resync = await recv(ws)
            assert resync == {
                "type": "resync_required",
                "data": {"since": seqs[4], "reason": "history_exceeded", "resume_from": seqs[20]},
            }
            assert [f["seq"] for f in await recv_n(ws, 10)] == seqs[20:]
        async with client(ws_url(base, since=10**9)) as ws:
            unknown = await recv(ws)
            assert unknown["type"] == "resync_required"
            assert unknown["data"]["reason"] == "unknown_sequence"
            live = await publish(nc, "pod_failure", {"id": 1})
            assert (await recv(ws))["seq"] == live


async def test_a_slow_client_is_told_and_dropped_while_others_get_everything(
    gateway: Gateway, nc: NATS
) -> None:
    async with gateway(feed_client_queue=20) as (base, app):
        hub = hub_of(app)
        async with client(ws_url(base)) as fast, _slow_client(ws_url(base)) as slow:
            await attached(app, 2)
            received: list[int] = []

            async def read_fast() -> None:
                while True:
                    received.append((await recv(fast))["seq"])

            reader = asyncio.create_task(read_fast())
            published: list[int] = []
            while hub.lagged_total == 0 and len(published) < 20_000:
                published += await publish_many(nc, 200, size=4000)

            async def fast_caught_up() -> int:
                return len(received)

            await eventually(fast_caught_up, lambda n: n == len(published), timeout=60)
            reader.cancel()
            assert hub.lagged_total == 1 and hub.clients == 1
            assert received == published

            frames, code = await read_until_closed(slow)
            assert code == 4008
            lagging = frames.pop()
            assert lagging["type"] == "lagging"
            dropped_after = lagging["data"]["dropped_after_seq"]
            assert [f["seq"] for f in frames] == published[: len(frames)]
            assert dropped_after == (frames[-1]["seq"] if frames else published[0] - 1)
            assert dropped_after < published[-1]

        async with client(ws_url(base, since=dropped_after)) as again:
            first = await recv(again)
            start = dropped_after + 1
            if first["type"] == "resync_required":  # missed more than the history holds
                start = first["data"]["resume_from"]
                first = await recv(again)
            expected = [s for s in published if s >= start]
            frames = [first, *await recv_n(again, len(expected) - 1)]
            assert [f["seq"] for f in frames] == expected


@asynccontextmanager
async def _slow_client(url: str) -> AsyncIterator[ClientConnection]:
    """A client that reads nothing until told to: tiny receive buffer, no compression."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    async with client(url, sock=sock, max_queue=1, compression=None) as ws:
        yield ws


async def test_filters_by_type_and_namespace(gateway: Gateway, nc: NATS) -> None:
    async with gateway() as (base, app), AsyncExitStack() as stack:
        by_type = await stack.enter_async_context(client(ws_url(base, types="pod_failure")))
        by_ns = await stack.enter_async_context(client(ws_url(base, namespace="prod")))
        both = await stack.enter_async_context(
            client(ws_url(base, types="pod_failure,pod_traffic", namespace="prod"))
        )
        await attached(app, 3)
        sent = {
            "fail-prod": await publish(nc, "pod_failure", {"id": 1, "namespace": "prod"}),
            "fail-dev": await publish(nc, "pod_failure", {"id": 2, "namespace": "dev"}),
            "traffic-prod": await publish(nc, "pod_traffic", {"pod_namespace": "prod"}),
            "traffic-dev": await publish(nc, "pod_traffic", {"pod_namespace": "dev"}),
            "rescan": await publish(nc, "security_rescan_status", {"status": "started"}),
            "deleted-prod": await publish(nc, "pod_deleted", {"namespace": "prod"}),
        }
        marker = await publish(nc, "pod_failure", {"id": 9, "namespace": "prod"})
        expected = {
            by_type: ["fail-prod", "fail-dev"],
            by_ns: ["fail-prod", "traffic-prod", "rescan", "deleted-prod"],
            both: ["fail-prod", "traffic-prod"],
        }
        for ws, names in expected.items():
            frames = await recv_n(ws, len(names) + 1)
            assert [f["seq"] for f in frames] == [sent[n] for n in names] + [marker]


async def test_unauthenticated_and_malformed_requests_are_closed(gateway: Gateway) -> None:
    async with gateway() as (base, app):
        for url in (f"{base}/api/ws", f"{base}/api/ws?token=wrong"):
            async with client(url) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4401
                assert closed.value.rcvd.reason == "Not authenticated"
        async with client(ws_url(base, since="yesterday")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            assert "since" in closed.value.rcvd.reason
        async with client(f"{base}/api/ws", additional_headers={"X-Service-Token": TOKEN}):
            await attached(app, 1)


def event(n: int, **changes: str) -> dict[str, str]:
    """kguardian event ``n`` (a distinct flow per ``n``)."""
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "pod_name": "my-app",
        "pod_namespace": "production",
        "pod_ip": "10.244.1.5",
        "pod_port": str(8000 + n),
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": "10.244.2.10",
        "traffic_in_out_port": "443",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:32:{n:02d}.123456",
    } | changes


async def test_pod_traffic_is_announced_for_new_flows_only(
    gateway: Gateway, nc: NATS, nats_url: str, mongo_url: str, mongo_db_name: str
) -> None:
    store = StoreSettings(nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name)
    async with (
        serving("ingest", IngestSettings(nats_url=nats_url), ingest),
        serving("traffic-store", store, traffic_store),
        gateway() as (base, app),
        httpx.AsyncClient(base_url="http" + base.removeprefix("ws")) as http,
        client(ws_url(base, types="pod_traffic", namespace="production")) as ws,
    ):
        await attached(app, 1)
        auth = {"X-Service-Token": TOKEN}

        async def post(body: Any) -> Any:
            resp = await http.post("/pod/traffic", json=body, headers=auth)
            assert resp.status_code == 200, resp.text
            return resp.json()

        assert await post(event(1)) == event(1)
        first = await recv(ws)
        assert first["type"] == "pod_traffic" and first["data"] == event(1)
        assert await post(event(1, uuid="00000000-0000-4000-8000-0000000000aa")) is None
        assert await post(event(2, pod_namespace="staging")) is not None
        assert await post(event(3)) == event(3)
        third = await recv(ws)
        assert third["data"] == event(3)  # no frame for the duplicate nor for staging
        assert third["seq"] == first["seq"] + 2
        info = await nc.jetstream().stream_info(bus.FEED.name)
        assert info.state.messages == 3  # flows 1, 2 and 3; nothing for the duplicate
