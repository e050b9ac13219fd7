"""Pods stuck Pending or ContainerCreating without a clearer cause."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crashed,
    events_cmd,
    evidence,
    from_message,
    kubectl,
    make,
    rollout_checks,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import ReportView, as_str, human_age

PENDING_TOO_LONG_SECONDS = 300
_SANDBOX = re.compile(
    r"Failed to create pod sandbox: [^\n]*|failed to setup network for sandbox[^\n]*"
)
_CNI = re.compile(
    r"cni|network plugin|calico|flannel|cilium|weave|failed to (?:set ?up|allocate)", re.I
)
_EXPLAINED = frozenset(
    {
        "FailedScheduling",
        "FailedMount",
        "FailedAttachVolume",
        "Failed",
        "BackOff",
        "FailedCreatePodSandBox",
        "Unhealthy",
    }
)


def analyze_sandbox(view: ReportView) -> Finding | None:
    """FailedCreatePodSandBox: the runtime/CNI cannot set the pod's sandbox or network up."""
    hit = view.find_message(_SANDBOX, events=("FailedCreatePodSandBox",))
    if hit is None:
        return None
    node = view.node_name or "<node>"
    cni = bool(_CNI.search(hit.text))
    return make(
        "pending.sandbox-failed",
        f"Pod sandbox cannot be created on node {node}",
        f"The container runtime on node {code(node)} cannot create the pod's sandbox"
        + (
            " because the CNI network plugin failed to set up its network (no IP, plugin "
            "not ready or crashed)"
            if cni
            else ""
        )
        + f": {code(hit.text[:180])}.",
        (
            f"Check the CNI pods on {node}: `kubectl -n kube-system get pods -o wide "
            f"--field-selector spec.nodeName={node}`.",
            "Restart the failing CNI/runtime pod; check the node's IP pool is not exhausted.",
        ),
        (*rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.88,
    )


def analyze_pending_too_long(view: ReportView) -> Finding | None:
    """Pending for minutes with no event that explains why."""
    if view.phase != "Pending" and view.failure_reason != "Pending":
        return None
    if any(e.reason in _EXPLAINED for e in view.events) or view.failure_message:
        return None
    if crashed(view) or (view.init_statuses and view.failure_reason.startswith("Init:")):
        return None
    age = view.age_seconds
    if age is not None and age < PENDING_TOO_LONG_SECONDS:
        return None
    minutes = human_age(age) if age is not None else "a while"
    found: list[Evidence | None] = [evidence("phase", "phase", view.phase or "Pending")]
    if age is not None:
        found.append(
            evidence(
                "phase", "creation timestamp", f"{view.report.creation_timestamp} ({minutes} ago)"
            )
        )
    if view.node_name:
        cause = (
            f"Pod {code(view.pod)} was assigned to node {code(view.node_name)} but has been "
            f"Pending for {minutes} without an event explaining why: the kubelet may be "
            "slow pulling a large image, waiting for volumes, or unhealthy."
        )
        fix = [
            f"Check the kubelet and runtime on {view.node_name}: `kubectl describe node "
            f"{view.node_name}`.",
            f"Look for image pulls in progress: `{events_cmd(view)}`.",
        ]
    else:
        scheduler = as_str(view.spec.get("schedulerName")) or "default-scheduler"
        cause = (
            f"Pod {code(view.pod)} has been Pending for {minutes} and no node was assigned, "
            "with no FailedScheduling event: the scheduler may not be running, the pod may "
            "name a `schedulerName` nobody serves, or a ResourceQuota/admission webhook holds it."
        )
        if scheduler != "default-scheduler":
            cause += (
                f" The pod asks for scheduler {code(scheduler)}: check that it is installed "
                "and running."
            )
        fix = [
            "Check the scheduler: `kubectl -n kube-system get pods -l component=kube-scheduler`.",
            "Check `spec.schedulerName` of the pod "
            f"({code(str(view.spec.get('schedulerName') or 'default-scheduler'))}).",
            f"Check quotas: `kubectl -n {view.namespace} describe resourcequota`.",
        ]
    return make(
        "pending.too-long",
        f"Pod {view.pod} Pending for {minutes}",
        cause,
        fix,
        (kubectl(view, f"get pod {view.pod} -o wide"), events_cmd(view), *rollout_checks(view)),
        found,
        0.45,
    )
