"""Kubernetes resource quantities (CPU and memory) read and written as numbers."""

from __future__ import annotations

import re
from typing import Any

from kubeward.failure_analyzer.report_view.accessors import as_str

_QUANTITY = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*\Z")
_SUFFIX = {
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
    "m": 1e-3,
}


def parse_quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``512Mi``, ``1.5Gi``, ``250m``, ``2``) as a number."""
    text = as_str(value)
    if text is None:
        return None
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def format_bytes(amount: float) -> str:
    """Bytes as the binary quantity a manifest would use (``768Mi``, ``2Gi``)."""
    for suffix, size in (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
        if amount >= size:
            scaled = amount / size
            if suffix == "Gi" and scaled != int(scaled):
                return f"{round(amount / 2.0**20)}Mi"
            return f"{round(scaled)}{suffix}"
    return f"{int(amount)}"
