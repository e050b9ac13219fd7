"""Domain events for the WebSocket feed: ``{"type": ..., "data": ...}`` on ``kubeward.feed.*``."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext

from kubeward.schemas import bus
from kubeward.schemas.feed import FeedEvent

_encoder = msgspec.json.Encoder()


def event_body(event_type: str, data: Any) -> bytes:
    """The feed message for ``data`` (any msgspec-encodable value), as Kure's WebSocket sends it."""
    return _encoder.encode(FeedEvent(type=event_type, data=data))


async def publish_event(
    js: JetStreamContext, event_type: str, data: Any, msg_id: str | None = None
) -> None:
    """Publish one feed event and wait for the stream's ack.

    ``msg_id`` (``Nats-Msg-Id``) makes a retried publish of the same event a no-op.
    """
    headers = {bus.HDR_MSG_ID: msg_id} if msg_id else None
    await js.publish(bus.feed_subject(event_type), event_body(event_type, data), headers=headers)
