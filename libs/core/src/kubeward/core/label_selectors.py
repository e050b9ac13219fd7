"""Kubernetes label-selector operators, shared by the cluster views (which workload selects
which pods) and the NetworkPolicy audit (which pods a policy selects)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


def expression_matches(
    key: str, operator: str, values: Collection[str], labels: Mapping[str, str]
) -> bool:
    """Whether one ``matchExpressions`` entry holds for ``labels``; ``ValueError`` for an
    operator Kubernetes does not have (callers decide whether that is an error)."""
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown matchExpressions operator {operator!r}")
