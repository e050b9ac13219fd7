"""Feed events about security, in the Kure WebSocket's shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from nats.js import JetStreamContext

from kubeward.core.feed import publish_event
from kubeward.security.store import to_api


async def security_finding(js: JetStreamContext, doc: Mapping[str, Any]) -> None:
    """A new finding (the whole record: ``id``, ``severity``, ``message``, ...)."""
    await publish_event(
        js,
        "security_finding",
        msgspec.to_builtins(to_api(doc)),
        msg_id=f"security_finding-{doc['_id']}",
    )


async def trusted_registry_change(js: JetStreamContext, registry: str, action: str) -> None:
    """A trusted registry was ``added`` or ``removed``."""
    await publish_event(js, "trusted_registry_change", {"registry": registry, "action": action})


async def rescan_status(js: JetStreamContext, status: str, reason: str | None) -> None:
    """A rescan ``started`` or ``completed`` (ours, or the external scanner's)."""
    await publish_event(js, "security_rescan_status", {"status": status, "reason": reason})


async def rescan_request(js: JetStreamContext) -> None:
    """Ask external scanners (connected to the feed) for a full scan: Kure's
    ``security_rescan_request``, whose ``data`` is an empty object."""
    await publish_event(js, "security_rescan_request", {})
