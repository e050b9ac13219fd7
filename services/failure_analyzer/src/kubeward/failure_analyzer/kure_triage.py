"""The Kure dashboard's own triage commands, answered as Kure's backend answers them.

- ``PATCH /api/pods/failed/{id}/status`` (:class:`UpdateStatus`): Kure's transitions —
  new -> investigating or ignored, investigating -> ignored, ignored -> new; anything else,
  the same status included, is ``400 Cannot transition from 'X' to 'Y'``. Answers the
  record; ``pod_status_change`` carries it.
- ``DELETE /api/pods/records/{id}`` (:class:`DeleteRecord`): resolved and ignored records
  only (``400 Can only delete resolved or ignored records (current status: new)``);
  ``{"message": "Pod record deleted"}`` and ``pod_record_deleted``.
- ``GET /api/pods/{ns}/{pod}/manifest`` (:class:`GetPodManifest`): the manifest of the
  pod's latest record.
- ``POST /api/pods/failed/{id}/troubleshoot`` (:class:`Troubleshoot`): a diagnosis of the
  stored crash logs, cached on the record (``?regenerate=true`` makes a new one): the
  offline analyzers read the logs; with an LLM configured, it answers, built on them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.failure_analyzer import events, metrics, solutions
from kubeward.failure_analyzer.admin_settings import llm_config
from kubeward.failure_analyzer.crash_logs import with_logs
from kubeward.failure_analyzer.store import FailureStore, Solution, iso, report_of, to_api
from kubeward.schemas.pod_failures import (
    DeleteRecord,
    FailureStatus,
    GetPodManifest,
    Troubleshoot,
    UpdateStatus,
)
from kubeward.schemas.replies import Reply, error

NOT_FOUND = "Pod failure not found"
NO_LOGS = "No captured logs for this pod"
NOT_LOG_AWARE = "Log-aware troubleshoot not available for this failure type"
LOG_CAPTURE_REASONS = frozenset({"CrashLoopBackOff", "OOMKilled", "Error"})
"""Failure reasons Kure offers log-aware troubleshooting for."""

KURE_TRANSITIONS: dict[FailureStatus, frozenset[str]] = {
    # target status -> statuses it may be reached from (Kure's routes_pods.py)
    "investigating": frozenset({"new"}),
    "ignored": frozenset({"new", "investigating"}),
    "new": frozenset({"ignored"}),
    "resolved": frozenset(),
}


def _body(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


class KureTriage:
    """Handlers of the dashboard's triage commands (see the module docstring)."""

    def __init__(
        self,
        js: JetStreamContext,
        store: FailureStore,
        app_settings: AppSettings,
        *,
        llm_timeout: float,
        offline_diagnosis: bool = True,
    ) -> None:
        self._js = js
        self._store = store
        self._settings = app_settings
        self._llm_timeout = llm_timeout
        self._offline = offline_diagnosis

    async def update_status(self, command: UpdateStatus) -> Reply:
        """Kure's status change; answers the record."""
        note = command.resolution_note if command.status == "resolved" else None
        change = await self._store.set_status(
            command.id,
            command.status,
            KURE_TRANSITIONS[command.status],
            {"resolution_note": note},
        )
        if change.doc is None:
            return error(404, NOT_FOUND)
        if change.before == command.status or change.doc["status"] != command.status:
            return error(400, f"Cannot transition from '{change.before}' to '{command.status}'")
        await events.status_change(self._js, change.doc)
        return Reply(body=_body(to_api(change.doc)))

    async def delete_record(self, command: DeleteRecord) -> Reply:
        """Delete a resolved or ignored record (and its crash logs)."""
        doc, deleted = await self._store.delete_record(command.id)
        if doc is None:
            return error(404, NOT_FOUND)
        if not deleted:
            if doc.get("status") in ("resolved", "ignored"):  # deleted meanwhile
                return error(404, NOT_FOUND)
            return error(
                400,
                "Can only delete resolved or ignored records "
                f"(current status: {doc.get('status')})",
            )
        await events.record_deleted(self._js, doc)
        return Reply(body=_body({"message": "Pod record deleted"}))

    async def pod_manifest(self, command: GetPodManifest) -> Reply:
        """The manifest of the pod's latest failure record."""
        doc = await self._store.latest_of_pod(command.namespace, command.pod_name)
        if doc is None:
            return error(404, NOT_FOUND)
        return Reply(
            body=_body(
                {
                    "manifest": doc.get("manifest") or "",
                    "pod_name": doc["pod_name"],
                    "namespace": doc["namespace"],
                    "kind": "Pod",
                    "name": doc["pod_name"],
                    "id": doc["_id"],
                    "timestamp": to_api(doc).timestamp,
                }
            )
        )

    async def troubleshoot(self, command: Troubleshoot) -> Reply:
        """A log-aware diagnosis, cached on the record."""
        doc = await self._store.get(command.id)
        if doc is None:
            return error(404, NOT_FOUND)
        if (doc.get("failure_reason") or "Unknown") not in LOG_CAPTURE_REASONS:
            return error(400, NOT_LOG_AWARE)
        logs = await self._store.get_logs(command.id)
        if logs is None or not logs.captured:
            return error(404, NO_LOGS)
        cached = doc.get("log_aware_solution")
        if cached and not command.regenerate:
            return Reply(body=_body(_answer(cached, doc, cached=True)))
        report = with_logs(report_of(doc), logs)
        config = llm_config(self._settings)
        solution: Solution
        if config is not None:
            solution = await solutions.with_llm(config, report, timeout=self._llm_timeout)
        else:
            solution = solutions.offline(report, self._offline)
        metrics.SOLUTIONS.labels(solution.source).inc()
        updated = await self._store.set_troubleshoot(command.id, solution.text)
        if updated is None:  # deleted meanwhile
            return error(404, NOT_FOUND)
        await events.troubleshoot_updated(self._js, updated)
        answer = _answer(solution.text, updated, cached=False)
        answer |= {
            "solution_source": solution.source,
            "llm_error": solution.error,
            "analyzer": solution.analyzer,
        }
        return Reply(body=_body(answer))


def _answer(solution: str, doc: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    """Kure's troubleshoot answer."""
    return {
        "solution": solution,
        "generated_at": iso(doc.get("log_aware_solution_generated_at")),
        "cached": cached,
        "log_aware": True,
    }
