"""permessage-deflate that compresses a feed frame once for all the sockets it goes to.

uvicorn negotiates permessage-deflate with context takeover: every socket keeps its own
compressor and deflates every frame it sends. A feed frame goes to every client, so with
200 clients 41 % of the gateway's CPU went to zlib compressing the same text 200 times
(``bench.feed_latency``), and POST → frame latency grew with the number of sockets.

Here the gateway answers every deflate offer with ``server_no_context_takeover`` (RFC 7692
§7.1.1.1 lets a server add it unasked; browsers and the ``websockets`` client accept it):
each message it sends is compressed on its own, so the same text gives the same bytes on
every socket, and those bytes are computed once and kept for the next sockets. What
clients send to us is decompressed as before. No maintained library shares compressed
frames between connections, hence this module: a subclass of ``websockets``'
:class:`PerMessageDeflate` and the factory that negotiates it (offered by
:class:`~kubeward.gateway.ws_protocol.FeedSocketProtocol`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

SHARED_FRAMES = 128
"""Distinct compressed messages kept; a frame fanned out to every client is sent within a
burst, and a client up to this many messages behind still finds its frame."""
WINDOW_BITS = 12
COMPRESS_SETTINGS = {"memLevel": 5}
"""uvicorn's own choices for the server side (a 4 KB window, small memory per socket)."""


class _Compressed:
    """Compressed messages by (window bits, payload), oldest dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[int, bytes], bytes] = OrderedDict()
        self.compressed = 0
        """Messages actually compressed (the rest came from here)."""

    def get(self, key: tuple[int, bytes]) -> bytes | None:
        return self._frames.get(key)

    def put(self, key: tuple[int, bytes], data: bytes) -> None:
        self.compressed += 1
        self._frames[key] = data
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)


SHARED = _Compressed(SHARED_FRAMES)
"""The process's compressed messages (one event loop: no lock needed)."""


class SharedDeflate(PerMessageDeflate):
    """permessage-deflate whose outgoing messages, compressed without context takeover,
    are shared between sockets."""

    def encode(self, frame: Frame) -> Frame:
        """Compress ``frame`` (a whole text or binary message) or reuse its bytes."""
        if not (
            self.local_no_context_takeover
            and frame.fin
            and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
        ):
            return super().encode(frame)
        # The same bytes object for every socket (FeedSocketProtocol encodes each text once),
        # so its hash is computed once too.
        key = (self.local_max_window_bits, bytes(frame.data))
        data = SHARED.get(key)
        if data is None:
            data = bytes(super().encode(frame).data)
            SHARED.put(key, data)
        return Frame(frame.opcode, data, frame.fin, True, frame.rsv2, frame.rsv3)


class SharedDeflateFactory(ServerPerMessageDeflateFactory):
    """Accepts deflate offers as uvicorn does, always without server context takeover."""

    def __init__(self) -> None:
        super().__init__(
            server_no_context_takeover=True,
            server_max_window_bits=WINDOW_BITS,
            client_max_window_bits=WINDOW_BITS,
            compress_settings=dict(COMPRESS_SETTINGS),
        )

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """The negotiated parameters, and a :class:`SharedDeflate` using them."""
        response, agreed = super().process_request_params(params, accepted_extensions)
        return response, SharedDeflate(
            agreed.remote_no_context_takeover,
            agreed.local_no_context_takeover,
            agreed.remote_max_window_bits,
            agreed.local_max_window_bits,
            agreed.compress_settings,
        )
