"""security counters, in their own registry: served on its health port's ``/metrics``
and relayed by the gateway's ``/metrics`` (``metrics_subject``).

Besides kubeward's own, Kure Monitor's names so its dashboards and alerts keep working
(``backend/services/prometheus_metrics.py``): ``kure_security_findings_total``,
``kure_security_scan_duration_seconds`` and the LLM metrics of
:class:`~kubeward.core.metrics.LLMMetrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeward.core.metrics import LLMMetrics

REGISTRY = CollectorRegistry()

FINDINGS = Counter(
    "kubeward_security_findings",
    "Findings written, by source (scanner, builtin) and outcome (created, updated).",
    ["source", "outcome"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "kubeward_security_findings_dropped",
    "Findings dropped by an exclusion, by reason "
    "(excluded_namespace, excluded_pod, excluded_rule).",
    ["reason"],
    registry=REGISTRY,
)
MANIFEST_OBJECTS = Counter(
    "kubeward_security_manifest_objects",
    "Objects scanned by the built-in scanner, by where they came from.",
    ["source"],
    registry=REGISTRY,
)
SCAN_DURATION = Gauge(
    "kubeward_security_scan_duration_seconds",
    "How long the external scanner's last full scan took (it reports it).",
    registry=REGISTRY,
)
KURE_FINDINGS = Counter(
    "kure_security_findings",
    "Total security findings reported to the backend",
    ["severity"],
    registry=REGISTRY,
)
"""Kure's: one per finding the scanner reports and that is stored (new or seen again),
labelled with the severity as the scanner sent it."""
KURE_SCAN_DURATION = Gauge(
    "kure_security_scan_duration_seconds",
    "Duration of the last security scan in seconds",
    registry=REGISTRY,
)
"""Kure's: set from ``POST /api/metrics/security-scan-duration``."""
LLM = LLMMetrics(REGISTRY)
"""Kure's ``kure_llm_*``: one per call to the model for a finding's fix."""
