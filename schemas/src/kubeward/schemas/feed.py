"""A message of the ``FEED`` stream (``kubeward.feed.<type>``, JSON), as the WebSocket sends it."""

from __future__ import annotations

from typing import Any

import msgspec


class FeedEvent(msgspec.Struct, kw_only=True):
    """``{"type": ..., "data": ...}``: ``type`` is also the subject's last token."""

    type: str
    """E.g. ``pod_failure``, ``pod_traffic``, ``security_finding``."""
    data: Any
    """The event's record, as the matching REST listing returns it."""
