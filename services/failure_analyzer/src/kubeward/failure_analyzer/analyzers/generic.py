"""The fallback when no analyzer recognised the failure: concrete next steps anyway."""

from __future__ import annotations

from kubeward.failure_analyzer.analyzers.base import (
    code,
    describe,
    events_cmd,
    evidence,
    kubectl,
    logs_cmd,
    make,
    message_evidence,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import ReportView


def analyze_unknown(view: ReportView) -> Finding:
    """Summarise what the report says and list the commands that find the cause."""
    found: list[Evidence | None] = []
    if view.failure_reason:
        found.append(evidence("reason", "failure reason", view.failure_reason))
    for status in (*view.init_statuses, *view.statuses):
        if status.reason or status.restart_count or status.ready is False:
            found.append(status_evidence(status))
    warnings = [m for m in view.messages if m.source == "event"][-2:]
    found.extend(message_evidence(m) for m in warnings)
    if view.failure_message:
        found.append(evidence("message", "failure message", view.failure_message))
    if len(found) > 5:
        found = found[:5]
    reason = view.failure_reason or "an unknown reason"
    container = view.statuses[0].name if view.statuses else None
    return make(
        "generic.unknown",
        f"Pod {view.pod} failing ({reason})",
        f"Pod {code(view.pod)} in {code(view.namespace)} is failing with {code(reason)}"
        + (f": {code(view.failure_message[:160])}" if view.failure_message else "")
        + ". None of the offline analyzers recognised the cause from the report's status, "
        "events and logs.",
        (
            f"Read the pod's events and conditions: `{describe(view)}`.",
            f"Read the logs of the failing container: `{logs_cmd(view, container)}`.",
            f"Check the owning workload's recent changes: `kubectl -n {view.namespace} "
            f"rollout history {view.owner_label}`.",
            "Compare the pod spec (image, env, volumes, resources) with the last version "
            "that worked.",
        ),
        (kubectl(view, f"get pod {view.pod} -o wide"), events_cmd(view)),
        found,
        0.1,
    )
