"""Feed events about failures, in the Kure WebSocket's shapes.

``pod_failure`` carries the whole record; ``solution_updated``, ``pod_status_change`` and
``pod_deleted`` the fields the reference names plus ``namespace``/``pod_name`` so feed
clients can filter by namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from nats.js import JetStreamContext

from kubeward.core.feed import publish_event
from kubeward.failure_analyzer.store import to_api

MAX_EVENT_BYTES = 512 * 1024
"""A ``pod_failure`` event larger than this goes without ``logs`` and ``manifest``
(``"truncated": true``); the full record stays readable through the API."""


async def pod_failure(js: JetStreamContext, doc: Mapping[str, Any], tag: str) -> None:
    """A failure was recorded or updated by the report ``tag``."""
    data = msgspec.to_builtins(to_api(doc))
    if len(msgspec.json.encode(data)) > MAX_EVENT_BYTES:
        data |= {"logs": "", "manifest": "", "truncated": True}
    await publish_event(js, "pod_failure", data, msg_id=f"pod_failure-{doc['_id']}-{tag}")


async def solution_updated(js: JetStreamContext, doc: Mapping[str, Any]) -> None:
    """A record has a new solution."""
    await publish_event(
        js,
        "solution_updated",
        {
            "id": doc["_id"],
            "namespace": doc["namespace"],
            "pod_name": doc["pod_name"],
            "solution": doc.get("solution") or "",
            "solution_source": doc.get("solution_source"),
            "llm_error": doc.get("llm_error"),
        },
    )


async def status_change(js: JetStreamContext, doc: Mapping[str, Any]) -> None:
    """A record changed status."""
    await publish_event(
        js,
        "pod_status_change",
        {
            "id": doc["_id"],
            "namespace": doc["namespace"],
            "pod_name": doc["pod_name"],
            "status": doc["status"],
        },
    )


async def pod_deleted(js: JetStreamContext, namespace: str, pod_name: str) -> None:
    """The agent saw the pod deleted (or recovered)."""
    await publish_event(js, "pod_deleted", {"namespace": namespace, "pod_name": pod_name})
