"""Observed flows with both ends resolved: what policy suggestion and audit reason over.

Pure data and label helpers; reading flows and the inventory is in ``network_flows``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeward.core.label_selectors import expression_matches

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
"""The label every namespace carries with its own name (the only namespace label the
inventory knows)."""
UNSTABLE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
    }
)
"""Labels that differ between pods (or rollouts) of one workload: never selected on."""
RUN_LABELS = frozenset(
    {
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    }
)
"""Labels naming one Job run: stable for a Job, not across a CronJob's runs."""
RULE_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
"""Protocols a NetworkPolicy port can name; other flows (ICMP) are not turned into rules."""


class Workload(msgspec.Struct, frozen=True, order=True):
    """A workload: a controller's pods, or a lone pod (``kind`` ``Pod``)."""

    namespace: str
    kind: str
    name: str

    def ref(self) -> str:
        """``namespace/Kind/name``, as audit answers name a peer."""
        return f"{self.namespace}/{self.kind}/{self.name}"


class Peer(msgspec.Struct, frozen=True):
    """The other end of a flow, as the inventory knew it at the time of the flow.

    ``workload`` is ``None`` for an address the inventory does not know (outside the
    cluster, a node, a Service without selector): only an ``ipBlock`` can name it.
    """

    ip: str
    workload: Workload | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    """All labels of the peer pod; for a Service, its selector."""
    dns: bool = False
    """A name lookup: kube-dns on port 53."""
    note: str | None = None
    """Why the peer could not be mapped to a workload (``workload`` is ``None``)."""


class ResolvedFlow(msgspec.Struct, kw_only=True):
    """One stored flow from the observing pod's side, its peer resolved at one time.

    ``port`` is the server side of the connection: the pod's own port for ``INGRESS``, the
    peer's for ``EGRESS`` (through a Service: its target port, a name when the Service
    names it). The client side's port is ephemeral and never part of a rule.
    """

    flow_id: str
    pod_name: str
    pod_namespace: str
    workload: Workload
    labels: dict[str, str]
    """All labels of the observing pod (empty when the inventory does not know it)."""
    traffic_type: str
    protocol: str
    port: int | str | None
    """Number, container port name, or ``None`` when the flow has no usable port."""
    port_name: str | None = None
    """The container port's name when known (a named rule port matches it)."""
    peer: Peer
    hits: int = 1
    last_seen: str = ""
    observed_port: str = ""
    """The server port as observed (before a Service's translation)."""


def stable_labels(labels: dict[str, str], kind: str) -> dict[str, str]:
    """``labels`` without those that change between the pods of one workload."""
    drop = UNSTABLE_LABELS | (RUN_LABELS if kind == "CronJob" else frozenset())
    return {k: v for k, v in labels.items() if k not in drop}


def common_labels(label_sets: list[dict[str, str]]) -> dict[str, str]:
    """The labels every set holds with the same value (a selector matching them all)."""
    if not label_sets:
        return {}
    common = dict(label_sets[0])
    for labels in label_sets[1:]:
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes ``LabelSelector`` semantics; ``None`` or ``{}`` selects everything.

    ``ValueError`` for a selector that is not one (wrong types, unknown operator).
    """
    if selector is None:
        return True
    if not isinstance(selector, dict):
        raise ValueError(f"a label selector must be an object, not {selector!r}")
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        raise ValueError("matchLabels must be an object")
    for key, value in match_labels.items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict) or "key" not in expr or "operator" not in expr:
            raise ValueError(f"a matchExpression needs key and operator: {expr!r}")
        key, op = str(expr["key"]), str(expr["operator"])
        values = [str(v) for v in expr.get("values") or []]
        if not expression_matches(key, op, values, labels):
            return False
    return True
