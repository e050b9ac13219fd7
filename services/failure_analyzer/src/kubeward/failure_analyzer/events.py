"""Feed events about failures, in the Kure WebSocket's shapes.

``pod_failure`` and ``pod_status_change`` carry the whole record (Kure's dashboard moves
the record it receives between its lists); ``solution_updated``, ``pod_deleted``,
``pod_record_deleted`` and ``pod_troubleshoot_updated`` the fields Kure sends plus
``namespace``/``pod_name`` so feed clients can filter by namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from nats.js import JetStreamContext

from kubeward.core.feed import publish_event
from kubeward.failure_analyzer.store import to_api
from kubeward.schemas.pod_failures import PodFailure

MAX_EVENT_BYTES = 512 * 1024
"""A ``pod_failure`` event larger than this goes without ``logs`` and ``manifest``
(``"truncated": true``); the full record stays readable through the API."""


def _record(record: PodFailure) -> dict[str, Any]:
    """The record as the API answers it, without ``logs`` and ``manifest`` when too big."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    if len(msgspec.json.encode(data)) > MAX_EVENT_BYTES:
        data |= {"logs": "", "manifest": "", "truncated": True}
    return data


async def pod_failure(js: JetStreamContext, record: PodFailure, tag: str) -> None:
    """A failure was recorded or updated by the report ``tag`` (``record`` as the API
    answers it)."""
    await publish_event(js, "pod_failure", _record(record), msg_id=f"pod_failure-{record.id}-{tag}")


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
    """A record changed status: the whole record (``id``, ``status``, ... as Kure)."""
    await publish_event(js, "pod_status_change", _record(to_api(doc)))


async def record_deleted(js: JetStreamContext, doc: Mapping[str, Any]) -> None:
    """A resolved or ignored record was deleted for good (Kure's ``pod_record_deleted``)."""
    await publish_event(
        js,
        "pod_record_deleted",
        {"id": doc["_id"], "namespace": doc["namespace"], "pod_name": doc["pod_name"]},
    )


async def troubleshoot_updated(js: JetStreamContext, doc: Mapping[str, Any]) -> None:
    """A record has a new log-aware solution (Kure's ``pod_troubleshoot_updated``)."""
    api = to_api(doc)
    await publish_event(
        js,
        "pod_troubleshoot_updated",
        {
            "pod_id": api.id,
            "id": api.id,
            "namespace": api.namespace,
            "pod_name": api.pod_name,
            "solution": api.log_aware_solution,
            "generated_at": api.log_aware_solution_generated_at,
        },
    )


async def pod_deleted(js: JetStreamContext, namespace: str, pod_name: str) -> None:
    """The agent saw the pod deleted (or recovered)."""
    await publish_event(js, "pod_deleted", {"namespace": namespace, "pod_name": pod_name})
