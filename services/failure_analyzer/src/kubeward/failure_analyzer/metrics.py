"""failure-analyzer counters, in their own registry: served on its health port's
``/metrics`` and relayed by the gateway's ``/metrics`` (``metrics_subject``).

Besides kubeward's own, Kure Monitor's names so its dashboards and alerts keep working
(``backend/services/prometheus_metrics.py``): ``kure_pod_failures_total`` and the LLM
metrics of :class:`~kubeward.core.metrics.LLMMetrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from kubeward.core.metrics import LLMMetrics

REGISTRY = CollectorRegistry()

REPORTS = Counter(
    "kubeward_failure_reports",
    "Failed-pod reports handled, by outcome (created, updated, duplicate, dropped).",
    ["outcome"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "kubeward_failure_reports_dropped",
    "Reports dropped by an exclusion, by reason (excluded_namespace, excluded_pod).",
    ["reason"],
    registry=REGISTRY,
)
SOLUTIONS = Counter(
    "kubeward_failure_solutions",
    "Solutions written, by source (offline, llm, offline-fallback).",
    ["source"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "kubeward_failure_notifications",
    "Notification deliveries, by provider and outcome (sent, failed).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
RETENTION_DELETED = Counter(
    "kubeward_failure_retention_deleted",
    "Records deleted by retention, by status (resolved, ignored).",
    ["status"],
    registry=REGISTRY,
)
KURE_POD_FAILURES = Counter(
    "kure_pod_failures",
    "Total number of pod failures reported to the backend",
    ["namespace", "reason"],
    registry=REGISTRY,
)
"""Kure's: one per report stored (new or updated record; not a dropped one or a redelivery),
labelled with the report's namespace and ``failure_reason``."""
LLM = LLMMetrics(REGISTRY)
"""Kure's ``kure_llm_*``: one per call to the model for a pod's solution."""
