"""security counters, served on its health port's ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FINDINGS = Counter(
    "kubeward_security_findings",
    "Findings written, by source (scanner, builtin) and outcome (created, updated).",
    ["source", "outcome"],
)
DROPPED = Counter(
    "kubeward_security_findings_dropped",
    "Findings dropped by an exclusion, by reason "
    "(excluded_namespace, excluded_pod, excluded_rule).",
    ["reason"],
)
MANIFEST_OBJECTS = Counter(
    "kubeward_security_manifest_objects",
    "Objects scanned by the built-in scanner, by where they came from.",
    ["source"],
)
SCAN_DURATION = Gauge(
    "kubeward_security_scan_duration_seconds",
    "How long the external scanner's last full scan took (it reports it).",
)
