"""The gateway's WebSocket protocol: feed frames deflated once for every socket
(``kubeward.gateway.ws_deflate``), a burst's frames written together (``ws_protocol``).

The extension is checked against ``websockets``' own client-side deflate (what decodes
the frames in a client), and end to end: real gateway, real nats-server, ``websockets``
clients offering deflate as browsers do.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import ClassVar

import msgspec
import pytest
from nats.aio.client import Client as NATS
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode

from kubeward.core.bus import ensure_streams
from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings
from kubeward.gateway.ws_deflate import SHARED, SharedDeflate, SharedDeflateFactory
from kubeward.gateway.ws_protocol import FeedSocketProtocol
from kubeward.schemas import bus

TOKEN = "deflate-token"


def _negotiate() -> tuple[SharedDeflate, object]:
    """One socket's server side and client side, negotiated as a browser offers
    (``permessage-deflate; client_max_window_bits``)."""
    client_factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    offer = client_factory.get_request_params()
    response, server = SharedDeflateFactory().process_request_params(offer, [])
    assert isinstance(server, SharedDeflate)
    client = client_factory.process_response_params(response, [])
    return server, client


def test_answer_says_no_server_context_takeover() -> None:
    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True).get_request_params()
    response, server = SharedDeflateFactory().process_request_params(offer, [])
    assert ("server_no_context_takeover", None) in response
    assert server.local_no_context_takeover


def test_same_message_is_compressed_once_and_every_socket_decodes_it() -> None:
    sockets = [_negotiate() for _ in range(3)]
    texts = [
        msgspec.json.encode({"type": "pod_failure", "data": {"id": i, "pad": "x" * (300 * i)}})
        for i in range(4)
    ]
    before = SHARED.compressed
    sent: list[list[bytes]] = []
    for server, _client in sockets:
        sent.append([bytes(server.encode(Frame(Opcode.TEXT, t)).data) for t in texts])
    assert SHARED.compressed - before == len(texts)
    assert sent[0] == sent[1] == sent[2]
    assert all(len(c) < len(t) for c, t in zip(sent[0], texts, strict=True) if len(t) > 600)
    for (_server, client), frames in zip(sockets, sent, strict=True):
        for text, data in zip(texts, frames, strict=True):
            decoded = client.decode(Frame(Opcode.TEXT, data, rsv1=True))  # type: ignore[attr-defined]
            assert decoded.data == text
            assert not decoded.rsv1


def test_fragments_and_control_frames_take_the_plain_path() -> None:
    server, client = _negotiate()
    before = SHARED.compressed
    first = server.encode(Frame(Opcode.TEXT, b"part one, ", fin=False))
    rest = server.encode(Frame(Opcode.CONT, b"part two"))
    ping = server.encode(Frame(Opcode.PING, b"ping"))
    assert SHARED.compressed == before
    assert ping.data == b"ping"
    whole = client.decode(first).data + client.decode(rest).data  # type: ignore[attr-defined]
    assert whole == b"part one, part two"


def test_kept_messages_are_bounded() -> None:
    server, _client = _negotiate()
    for i in range(300):
        server.encode(Frame(Opcode.TEXT, f"message {i}".encode()))
    assert len(SHARED._frames) <= 128
    assert (
        zlib.decompressobj(-12).decompress(
            bytes(server.encode(Frame(Opcode.TEXT, b"message 299")).data) + b"\x00\x00\xff\xff"
        )
        == b"message 299"
    )


@pytest.fixture
def settings(nats_url: str, mongo_url: str, mongo_db_name: str, redis_url: str) -> Settings:
    """A gateway on the test's servers, with the test's service token."""
    return Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        redis_url=redis_url,
        service_token=TOKEN,
    )


@pytest.mark.asyncio
async def test_gateway_sends_one_compression_of_a_frame_to_every_client(
    nc: NATS, settings: Settings
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, [bus.FEED])
    async with serve_asgi(create_app(settings), ws=FeedSocketProtocol) as base:
        url = "ws" + base.removeprefix("http") + f"/api/ws?token={TOKEN}"
        clients = [await connect(url, compression="deflate") for _ in range(5)]
        try:
            for ws in clients:
                assert ws.response is not None
                agreed = ws.response.headers["Sec-WebSocket-Extensions"]
                assert "server_no_context_takeover" in agreed
            body = {"type": "bench_deflate", "data": {"note": "y" * 4000}}
            before = SHARED.compressed
            await js.publish(bus.FEED_PREFIX + "bench_deflate", msgspec.json.encode(body))
            frames = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 15) for ws in clients))
            got = [msgspec.json.decode(f) for f in frames]
            assert all(g["type"] == "bench_deflate" for g in got)
            assert all(g["data"] == body["data"] for g in got)
            assert SHARED.compressed - before == 1
        finally:
            await asyncio.gather(*(ws.close() for ws in clients))


class _CountingProtocol(FeedSocketProtocol):
    """Records how many frames each write to a socket carried."""

    frames_per_write: ClassVar[list[int]] = []

    def flush(self) -> None:
        if self._held:
            _CountingProtocol.frames_per_write.append(len(self._held))
        super().flush()


@pytest.mark.asyncio
async def test_a_burst_reaches_each_socket_in_order_in_fewer_writes(
    nc: NATS, settings: Settings
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, [bus.FEED])
    burst = 30
    async with serve_asgi(create_app(settings), ws=_CountingProtocol) as base:
        for path in ("/api/ws", "/ws"):  # the feed's own clients, and Kure's
            url = "ws" + base.removeprefix("http") + f"{path}?token={TOKEN}"
            clients = [await connect(url) for _ in range(3)]
            try:
                _CountingProtocol.frames_per_write.clear()
                await asyncio.gather(
                    *(
                        js.publish(
                            bus.FEED_PREFIX + "security_finding",
                            msgspec.json.encode({"type": "security_finding", "data": {"id": i}}),
                        )
                        for i in range(burst)
                    )
                )
                received = [
                    [
                        msgspec.json.decode(await asyncio.wait_for(ws.recv(), 15))["data"]["id"]
                        for _ in range(burst)
                    ]
                    for ws in clients
                ]
                # Pipelined publishes may be stored in another order than sent: every socket
                # gets the stream's order, the same for all, each frame once.
                assert sorted(received[0]) == list(range(burst))
                assert all(ids == received[0] for ids in received)
                writes = _CountingProtocol.frames_per_write
                assert sum(writes) == burst * len(clients)
                assert len(writes) < burst * len(clients)
            finally:
                await asyncio.gather(*(ws.close() for ws in clients))
