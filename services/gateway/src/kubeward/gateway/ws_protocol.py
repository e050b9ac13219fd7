"""The gateway's WebSocket protocol: uvicorn's, with feed frames deflated once for all sockets
and the frames of a burst written to a socket together.

A failed pod's report becomes about nine feed frames (the failure and the findings of its
manifest) that reach every client within the same moment. uvicorn writes each ASGI
``websocket.send`` to the socket at once: one ``send`` system call per frame per client,
27 % of the gateway's CPU at 200 clients once compression was shared (``bench.feed_latency``).
Here the frames a client's pump sends without waiting are held until the event loop comes
round and written with one call. Order is kept: anything else the protocol writes (a close, a
handshake answer, an answer to what the client sent) goes after the frames held before it.
uvicorn has no such option, hence this subclass.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from kubeward.gateway.ws_deflate import SHARED_FRAMES, SharedDeflateFactory


class _Encoded:
    """UTF-8 of the texts sent lately: a feed frame is one ``str`` sent to every socket,
    encoded once here (its hash is kept by the ``str``, so finding it is cheap), and the
    one ``bytes`` object lets :class:`~kubeward.gateway.ws_deflate.SharedDeflate` hash it
    once too."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._texts: OrderedDict[str, bytes] = OrderedDict()

    def get(self, text: str) -> bytes:
        data = self._texts.get(text)
        if data is None:
            data = self._texts[text] = text.encode()
            if len(self._texts) > self._size:
                self._texts.popitem(last=False)
        return data


ENCODED = _Encoded(SHARED_FRAMES)


class FeedSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with shared deflate and coalesced writes (pass
    as ``ws=`` to uvicorn)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn.available_extensions = [SharedDeflateFactory()]
        self._held: list[bytes] = []
        self._flush_at: asyncio.Handle | None = None

    async def send(self, message: ASGISendEvent) -> None:
        """Encode a data frame and hold it for the next flush; anything else as uvicorn does,
        after the frames held."""
        if (
            message["type"] != "websocket.send"
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
        ):
            self.flush()
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        try:
            data = message.get("bytes")
            text = message.get("text")
            if data is not None:
                self.conn.send_binary(data)
            elif text is not None:
                self.conn.send_text(ENCODED.get(text))
        except InvalidState:
            raise ClientDisconnected() from None
        self._held += self.conn.data_to_send()
        if self._flush_at is None:
            self._flush_at = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the frames held, in one call."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        if not self.disconnected and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        """What the client sent; answers to it go after the frames held."""
        self.flush()
        super().data_received(data)

    def shutdown(self) -> None:
        """The server stops: the frames held, then uvicorn's close."""
        self.flush()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: nothing held can be sent."""
        self._held.clear()
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        super().connection_lost(exc)
