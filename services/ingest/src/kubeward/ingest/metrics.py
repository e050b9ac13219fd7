"""Ingest counters, kept in their own registry so the gateway can relay them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()

MESSAGES = Counter(
    "kubeward_ingest_messages",
    "Collect messages consumed, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RECORDS = Counter(
    "kubeward_ingest_records",
    "Collector records seen, by kind and outcome (accepted, rejected).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
DEADLETTERS = Counter(
    "kubeward_ingest_deadletters",
    "Records or whole messages sent to the dead-letter stream, by kind.",
    ["kind"],
    registry=REGISTRY,
)
