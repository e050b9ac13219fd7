"""failure-analyzer counters, served on its health port's ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter

REPORTS = Counter(
    "kubeward_failure_reports",
    "Failed-pod reports handled, by outcome (created, updated, duplicate, dropped).",
    ["outcome"],
)
DROPPED = Counter(
    "kubeward_failure_reports_dropped",
    "Reports dropped by an exclusion, by reason (excluded_namespace, excluded_pod).",
    ["reason"],
)
SOLUTIONS = Counter(
    "kubeward_failure_solutions",
    "Solutions written, by source (offline, llm, offline-fallback).",
    ["source"],
)
NOTIFICATIONS = Counter(
    "kubeward_failure_notifications",
    "Notification deliveries, by provider and outcome (sent, failed).",
    ["provider", "outcome"],
)
RETENTION_DELETED = Counter(
    "kubeward_failure_retention_deleted",
    "Records deleted by retention, by status (resolved, ignored).",
    ["status"],
)
