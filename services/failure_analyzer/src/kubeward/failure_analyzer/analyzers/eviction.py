"""Evicted pods (node pressure, ephemeral-storage limits, preemption) and lost nodes."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    evidence,
    from_message,
    kubectl,
    make,
    rollout_checks,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import MessageHit, ReportView

_PRESSURE = re.compile(
    r"The node was low on resource: (?P<resource>[\w\-]+)\.(?: Threshold quantity: "
    r"(?P<threshold>\S+), available: (?P<available>[^.\s]+)\.)?"
    r"(?: Container (?P<container>[\w.\-]+)"
    r" was using (?P<using>\S+), request is (?P<request>[^,]+),)?"
)
_CONDITION = re.compile(r"The node had condition: \[(?P<condition>\w+)\]")
_LIMIT = re.compile(
    r"Pod ephemeral local storage usage exceeds the total limit of containers (?P<limit>\S+?)\.?"
    r"(?:\s|$)|Container (?P<container>[\w.\-]+) exceeded its local ephemeral storage limit "
    r"\"(?P<climit>[^\"]+)\"|Usage of EmptyDir volume \"(?P<volume>[^\"]+)\" exceeds the limit "
    r"\"(?P<vlimit>[^\"]+)\""
)
_PREEMPTED = re.compile(r"Preempted by (?:a )?pod[^\n]*")
_NODE_LOST = re.compile(
    r"Node (?P<node>[\w.\-]+) which was running pod [\w.\-]+ is unresponsive|Node is not ready|"
    r"NodeNotReady|Marking for deletion Pod"
)


def _evicted(view: ReportView) -> bool:
    return view.failure_reason == "Evicted" or "Evicted" in view.reasons


def analyze_node_pressure(view: ReportView) -> Finding | None:
    """Evicted because the node ran low on memory or disk (kubelet node-pressure eviction)."""
    if not _evicted(view):
        return None
    hit: MessageHit | None = view.find_message(_PRESSURE) or view.find_message(_CONDITION)
    if hit is None:
        return None
    groups = hit.match.groupdict()
    resource = groups.get("resource") or {
        "DiskPressure": "ephemeral-storage",
        "MemoryPressure": "memory",
        "PIDPressure": "pids",
    }.get(groups.get("condition") or "", "resources")
    node = view.node_name or "<node>"
    memory = resource == "memory"
    case = "memory-pressure" if memory else "disk-pressure"
    cause = (
        f"The kubelet on node {code(node)} evicted the pod because the node ran low on "
        f"{code(resource)}"
    )
    if groups.get("threshold"):
        cause += f" (available {groups['available']}, eviction threshold {groups['threshold']})"
    if groups.get("container"):
        cause += (
            f"; container {code(groups['container'])} was using {code(groups['using'])} "
            f"against a request of {code(groups['request'].strip())}, the largest overrun, so "
            "it went first"
        )
    cause += ". Pods using more than they request are evicted first."
    if memory:
        fix = [
            "Set the memory request to the real usage (request = limit for critical "
            f"apps):\n```bash\nkubectl -n {view.namespace} set resources {view.owner_label} "
            "--requests=memory=<usage> --limits=memory=<usage>\n```",
            f"Look at what fills node {node}'s memory (`kubectl top pods -A --sort-by=memory`).",
        ]
    else:
        fix = [
            "Stop writing large files to the container filesystem or emptyDir: use a "
            "PersistentVolume, rotate logs, clean temp files.",
            "Declare `resources.requests.ephemeral-storage` (and a limit) so the scheduler "
            "accounts for it.",
            f"Free disk on node {node} (images, logs): `kubectl describe node {node}`.",
        ]
    return make(
        f"eviction.{case}",
        f"Evicted: node {node} low on {resource}",
        cause,
        fix,
        (
            f"kubectl describe node {node} | grep -A 6 Conditions",
            *rollout_checks(view),
            events_cmd(view),
        ),
        (from_message(hit),),
        0.93,
    )


def analyze_ephemeral_limit(view: ReportView) -> Finding | None:
    """Evicted because a container or emptyDir went over its ephemeral-storage limit."""
    hit = view.find_message(_LIMIT)
    if hit is None:
        return None
    groups = hit.match.groupdict()
    what = (
        f"container {code(groups['container'])} exceeded its ephemeral-storage limit "
        f"{code(groups['climit'])}"
        if groups.get("container")
        else f"emptyDir volume {code(groups['volume'])} exceeded its sizeLimit "
        f"{code(groups['vlimit'])}"
        if groups.get("volume")
        else f"the pod's ephemeral storage exceeded its containers' total limit "
        f"{code(groups.get('limit') or '?')}"
    )
    return make(
        "eviction.ephemeral-storage-limit",
        "Evicted: ephemeral-storage limit exceeded",
        f"The kubelet evicted the pod because {what}. Writable layer, logs and emptyDir "
        "volumes all count.",
        (
            "Raise the limit if the usage is legitimate:\n```bash\nkubectl -n "
            f"{view.namespace} set resources {view.owner_label} "
            "--limits=ephemeral-storage=<more>\n```",
            "Or write less: move data to a PersistentVolume, rotate or ship logs, clear "
            "temporary files.",
        ),
        (*rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.94,
    )


def analyze_evicted(view: ReportView) -> Finding | None:
    """Evicted (or preempted) for a reason the specific analyzers do not name."""
    preempted = view.find_message(_PREEMPTED)
    if not _evicted(view) and preempted is None:
        return None
    if view.find_message(_PRESSURE) or view.find_message(_CONDITION) or view.find_message(_LIMIT):
        return None
    if preempted is not None:
        return make(
            "eviction.preempted",
            "Pod preempted by a higher-priority pod",
            f"The scheduler evicted pod {code(view.pod)} to make room for a pod with higher "
            f"priority ({code(preempted.match.group(0)[:120])}).",
            (
                "Give this workload a PriorityClass that matches its importance, or add "
                "capacity so preemption is not needed.",
            ),
            (*rollout_checks(view), "kubectl get priorityclass"),
            (from_message(preempted),),
            0.85,
        )
    found: list[Evidence | None] = [evidence("reason", "failure reason", "Evicted")]
    if view.failure_message:
        found.append(evidence("message", "failure message", view.failure_message))
    return make(
        "eviction.evicted",
        "Pod evicted",
        f"Pod {code(view.pod)} was evicted from node {code(view.node_name or '<node>')}"
        + (f": {code(view.failure_message[:160])}" if view.failure_message else "")
        + ".",
        (
            "Controllers replace evicted pods; check the replacement is healthy.",
            f"Clean up evicted pods: `kubectl -n {view.namespace} delete pod "
            "--field-selector=status.phase==Failed`.",
        ),
        (*rollout_checks(view), events_cmd(view)),
        found,
        0.7,
    )


def analyze_node_lost(view: ReportView) -> Finding | None:
    """NodeLost / node not ready: the pod's node stopped reporting."""
    hit = view.find_message(_NODE_LOST)
    if view.failure_reason != "NodeLost" and hit is None:
        return None
    node = (hit.match.groupdict().get("node") if hit else None) or view.node_name or "<node>"
    found: list[Evidence | None] = [from_message(hit) if hit else None]
    if view.failure_reason == "NodeLost":
        found.append(evidence("reason", "failure reason", "NodeLost"))
    return make(
        "node.not-ready",
        f"Node {node} is not ready (pod lost)",
        f"Node {code(node)} that runs pod {code(view.pod)} stopped reporting to the API "
        "server (kubelet down, node crashed, network partition), so the pod's state is "
        "unknown and it will be evicted after the toleration period (default 300 s).",
        (
            f"Check the node: `kubectl describe node {node}` (Conditions, last heartbeat).",
            "Restart the kubelet / the machine, or remove the node if it is gone "
            f"(`kubectl delete node {node}`); controllers then recreate the pod elsewhere.",
            f"For StatefulSet pods, force-delete only once the node is really down: "
            f"`kubectl -n {view.namespace} delete pod {view.pod} --grace-period=0 --force`.",
        ),
        (
            f"kubectl get node {node}",
            *rollout_checks(view),
            kubectl(view, f"get pod {view.pod} -o wide"),
        ),
        found,
        0.9,
    )
