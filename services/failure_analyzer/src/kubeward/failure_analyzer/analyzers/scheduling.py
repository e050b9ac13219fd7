"""FailedScheduling: why the scheduler finds no node (``0/N nodes are available: ...``)."""

from __future__ import annotations

import re
from typing import NamedTuple

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    evidence,
    kubectl,
    make,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import (
    ReportView,
    as_dict,
    as_list,
    as_str,
    format_bytes,
    parse_quantity,
)

_AVAILABLE = re.compile(
    r"(\d+)/(\d+) nodes are available:?\s*(.*?)(?:\.\s*preemption:|\.?\s*$)", re.S
)
_ITEM_SPLIT = re.compile(r",\s*(?=\d+ )")
_ITEM = re.compile(r"(\d+) (.*)", re.S)
_TAINT = re.compile(r"taints? \{([^}]*)\}")
_INSUFFICIENT = re.compile(r"Insufficient ([\w./\-]*\w)")
_CASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("insufficient-resources", re.compile(r"Insufficient (\S+)")),
    ("untolerated-taint", re.compile(r"had (?:untolerated )?taints? \{")),
    (
        "node-selector-mismatch",
        re.compile(r"didn't match (?:Pod's )?node (?:affinity|selector)|node affinity/selector"),
    ),
    (
        "unbound-pvc",
        re.compile(
            r"unbound immediate PersistentVolumeClaims|didn't find available persistent volumes"
        ),
    ),
    ("volume-node-affinity", re.compile(r"volume node affinity conflict")),
    ("too-many-pods", re.compile(r"Too many pods")),
    ("ports-in-use", re.compile(r"didn't have free ports")),
    (
        "pod-affinity",
        re.compile(r"pod (?:anti-)?affinity|anti-affinity rules|topology spread constraints"),
    ),
    ("unschedulable-nodes", re.compile(r"were unschedulable")),
)


class _Item(NamedTuple):
    nodes: int
    text: str


class _Parsed(NamedTuple):
    message: str
    label: str
    total: int
    items: list[_Item]


def _parse(view: ReportView) -> _Parsed | None:
    events = view.events_with("FailedScheduling")
    texts = [(f"event {e.reason}", e.message or "") for e in reversed(events)]
    if view.failure_reason == "FailedScheduling" or "nodes are available" in view.failure_message:
        texts.append(("failure message (FailedScheduling)", view.failure_message))
    for label, text in texts:
        match = _AVAILABLE.search(text)
        if match is None:
            continue
        items: list[_Item] = []
        for part in _ITEM_SPLIT.split(match.group(3)):
            item = _ITEM.match(part.strip())
            if item:
                items.append(_Item(int(item.group(1)), item.group(2).strip()))
            elif part.strip():
                items.append(_Item(int(match.group(2)), part.strip()))
        return _Parsed(text, label, int(match.group(2)), items)
    for label, text in texts:
        if text:
            return _Parsed(text, label, 0, [_Item(0, text)])
    return None


def _requests(view: ReportView) -> dict[str, float]:
    totals: dict[str, float] = {}
    for container in view.containers:
        for name, value in container.requests.items():
            amount = parse_quantity(value)
            if amount is not None:
                totals[name] = totals.get(name, 0.0) + amount
    return totals


def _show(resource: str, amount: float) -> str:
    if resource == "cpu":
        return f"{round(amount * 1000)}m" if amount < 1 else f"{amount:g}"
    if resource in ("memory", "ephemeral-storage"):
        return format_bytes(amount)
    return f"{amount:g}"


def _finding(view: ReportView, case: str) -> Finding | None:
    parsed = _parse(view)
    if parsed is None:
        return None
    pattern = dict(_CASES)[case]
    matched = [item for item in parsed.items if pattern.search(item.text)]
    if not matched:
        return None
    nodes = sum(item.nodes for item in matched)
    share = nodes / parsed.total if parsed.total else 0.5
    breakdown = "; ".join(f"{i.nodes} x {i.text}" if i.nodes else i.text for i in parsed.items)
    intro = (
        f"The scheduler cannot place pod {code(view.pod)}: "
        f"{code(f'0/{parsed.total} nodes are available') if parsed.total else 'no node fits'}"
        f" ({breakdown})."
    )
    found: list[Evidence | None] = [evidence("event", parsed.label, parsed.message)]
    builder = _BUILDERS[case]
    title, cause, fix, verify, extra = builder(view, matched)
    found.extend(extra)
    return make(
        f"scheduling.{case}",
        title,
        f"{intro} {cause}",
        fix,
        (*verify, kubectl(view, f"get pod {view.pod} -o wide"), events_cmd(view)),
        found,
        0.86 + 0.1 * share,
    )


_Built = tuple[str, str, list[str], list[str], list[Evidence | None]]


def _insufficient(view: ReportView, matched: list[_Item]) -> _Built:
    resources = sorted({m.group(1) for i in matched if (m := _INSUFFICIENT.search(i.text))})
    totals = _requests(view)
    asked = [f"{r} {_show(r, totals[r])}" for r in resources if r in totals]
    asked_text = (
        f" The pod requests {', '.join(asked)} in total."
        if asked
        else " The pod's requests for it are not in the manifest."
    )
    res = ", ".join(resources) or "resources"
    owner = view.owner_label
    names = ",".join(resources) if resources else "cpu,memory"
    return (
        f"Insufficient {res} on every node for pod {view.pod}",
        f"No node has enough unrequested {code(res)} left for the pod's requests."
        f"{asked_text} Requests, not actual usage, count: nodes are full of other pods' "
        "requests.",
        [
            "Lower the requests to what the app really uses:\n```bash\n"
            f"kubectl -n {view.namespace} set resources {owner} "
            + " ".join(f"--requests={r}=<less>" for r in resources if r in ("cpu", "memory"))
            + "\n```",
            "Or add capacity: scale the node pool / let the cluster autoscaler add a node, "
            "or free room by scaling down other workloads.",
            f"Compare with what nodes can give: allocatable minus requested ({names}).",
        ],
        [
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,"
            "CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory",
            "kubectl describe nodes | grep -A 8 'Allocated resources'",
        ],
        [
            evidence("manifest", "resources.requests (all containers)", ", ".join(asked))
            if asked
            else None
        ],
    )


_NODE_TAINTS = {
    "node.kubernetes.io/not-ready": "the node is NotReady",
    "node.kubernetes.io/unreachable": "the node is unreachable",
    "node.kubernetes.io/disk-pressure": "the node has disk pressure",
    "node.kubernetes.io/memory-pressure": "the node has memory pressure",
    "node.kubernetes.io/pid-pressure": "the node has PID pressure",
    "node.kubernetes.io/network-unavailable": "the node's network is not ready",
    "node.kubernetes.io/unschedulable": "the node is cordoned",
    "node.cloudprovider.kubernetes.io/uninitialized": "the node is not initialised yet",
}


def _taint(view: ReportView, matched: list[_Item]) -> _Built:
    taints: list[tuple[str, str]] = []
    for item in matched:
        for raw in _TAINT.findall(item.text):
            key, _, value = raw.partition(":")
            taints.append((key.strip(), value.strip()))
    key, value = taints[0] if taints else ("<key>", "")
    shown = ", ".join(code(f"{k}={v}" if v else k) for k, v in taints) or "a taint"
    conditions = [_NODE_TAINTS[k] for k, _ in taints if k in _NODE_TAINTS]
    if conditions:
        cause = (
            f"The nodes carry {shown}, which Kubernetes sets because {'; '.join(conditions)}."
            " Tolerating it would not help: fix the node."
        )
        fix = [
            "Inspect the nodes' conditions and kubelet: `kubectl describe node <node>`.",
            "Free disk/memory on the node, restart its kubelet, or replace the node.",
        ]
    else:
        operator = f'Equal\n  value: "{value}"' if value else "Exists"
        cause = (
            f"The nodes with room carry {shown} and the pod has no matching toleration, so "
            "only nodes without the taint qualify and none fit."
        )
        fix = [
            "If the pod is meant for those nodes, add a toleration to the pod template of "
            f'{code(view.owner_label)}:\n```yaml\ntolerations:\n- key: "{key}"\n'
            f"  operator: {operator}\n  effect: NoSchedule\n```",
            "Otherwise add capacity on untainted nodes, or remove the taint if it is stale:\n"
            f"```bash\nkubectl taint nodes <node> {key}-\n```",
        ]
    return (
        f"Untolerated taint {key} blocks scheduling of {view.pod}",
        cause,
        fix,
        ["kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints"],
        [
            evidence("manifest", "spec.tolerations", str(view.tolerations) or "none")
            if view.manifest
            else None
        ],
    )


def _required_terms(view: ReportView) -> list[str]:
    node_affinity = as_dict(view.affinity.get("nodeAffinity"))
    required = as_dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    out: list[str] = []
    for term in as_list(required.get("nodeSelectorTerms")):
        for expr in as_list(as_dict(term).get("matchExpressions")):
            expr = as_dict(expr)
            values = ",".join(str(v) for v in as_list(expr.get("values")))
            out.append(f"{expr.get('key')} {expr.get('operator')} ({values})")
    return out


def _selector(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    selector = {str(k): as_str(v) or "" for k, v in view.node_selector.items()}
    terms = _required_terms(view)
    parts = []
    if selector:
        parts.append("nodeSelector " + ", ".join(code(f"{k}={v}") for k, v in selector.items()))
    if terms:
        parts.append("required node affinity " + "; ".join(code(t) for t in terms))
    wanted = " and ".join(parts) or "its node selector/affinity"
    first_label = next(iter(selector.items()), None)
    verify = ["kubectl get nodes --show-labels"]
    if first_label:
        verify.insert(0, f"kubectl get nodes -l {first_label[0]}={first_label[1]}")
    fix = [
        "Label the nodes that should run it"
        + (
            f":\n```bash\nkubectl label nodes <node> {first_label[0]}={first_label[1]}\n```"
            if first_label
            else "."
        ),
        f"Or correct {wanted} in {code(view.owner_label)} (a typo in a label key/value is "
        "the usual cause).",
    ]
    found: list[Evidence | None] = []
    if selector:
        found.append(evidence("manifest", "spec.nodeSelector", str(selector)))
    if terms:
        found.append(evidence("manifest", "spec.affinity.nodeAffinity", "; ".join(terms)))
    return (
        f"No node matches the node selector/affinity of {view.pod}",
        f"The pod requires {wanted}, and no schedulable node with room has those labels.",
        fix,
        verify,
        found,
    )


def _pvc_names(view: ReportView) -> list[str]:
    names = []
    for volume in view.volumes:
        claim = as_str(as_dict(volume.get("persistentVolumeClaim")).get("claimName"))
        if claim:
            names.append(claim)
    return names


def _unbound(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    claims = _pvc_names(view)
    claim = claims[0] if claims else "<claim>"
    shown = ", ".join(code(c) for c in claims) or "its PersistentVolumeClaim"
    return (
        f"PersistentVolumeClaim {claim} is not bound",
        f"The pod uses {shown}, which is not bound to a volume: its StorageClass cannot "
        "provision one (no `storageClassName` and no default StorageClass, a provisioner "
        "that fails, or no matching static PV).",
        [
            f"See why the claim is Pending: `kubectl -n {view.namespace} describe pvc {claim}`.",
            "Set a StorageClass that exists on the claim (or mark one default):\n```bash\n"
            "kubectl get storageclass\nkubectl patch storageclass <name> -p "
            """'{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}'"""
            "\n```",
            "Or create a PersistentVolume matching the claim's size and access mode.",
        ],
        [kubectl(view, f"get pvc {claim}"), "kubectl get storageclass"],
        [
            evidence("manifest", "spec.volumes[].persistentVolumeClaim", ", ".join(claims))
            if claims
            else None
        ],
    )


def _volume_affinity(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    claims = _pvc_names(view)
    claim = claims[0] if claims else "<claim>"
    return (
        f"Volume node affinity conflict for {view.pod}",
        f"The volume bound to {code(claim)} lives in a zone/node where the pod cannot run "
        "(zonal disks attach only in their zone), and no node with room is there.",
        [
            "Add capacity in the volume's zone, or relax the pod's node selector/affinity "
            "so it may run there.",
            "Use a StorageClass with `volumeBindingMode: WaitForFirstConsumer` so new "
            "volumes are created where the pod is scheduled.",
        ],
        [
            kubectl(view, f"get pvc {claim} -o jsonpath='{{.spec.volumeName}}'"),
            "kubectl get pv -o custom-columns=NAME:.metadata.name,NODEAFFINITY:.spec.nodeAffinity",
        ],
        [],
    )


def _too_many_pods(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    return (
        f"Nodes are at their pod limit (Too many pods) for {view.pod}",
        "Every node has reached its maximum pod count (kubelet `maxPods`, or the CNI's IP "
        "limit per node).",
        [
            "Add nodes (or let the autoscaler), or remove finished/unused pods.",
            "Raise the kubelet `maxPods` if the node's IP range allows it.",
        ],
        [
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,PODS:.status.allocatable.pods",
            "kubectl get pods -A --field-selector=status.phase!=Running",
        ],
        [],
    )


def _ports(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    host_ports = [
        f"{c.name}:{p.get('hostPort')}"
        for c in view.containers
        for p in c.ports
        if p.get("hostPort")
    ]
    shown = ", ".join(code(h) for h in host_ports) or "a hostPort"
    return (
        f"Host ports already in use on the nodes for {view.pod}",
        f"The pod asks for {shown} (or hostNetwork), and every node already runs a pod "
        "bound to that port: only one pod per node can use a host port.",
        [
            "Drop `hostPort` and expose the pod through a Service instead, or",
            "run at most one replica per node (a DaemonSet), or add nodes.",
        ],
        [kubectl(view, f"get pod {view.pod} -o jsonpath='{{..hostPort}}'")],
        [
            evidence("manifest", "containers[].ports[].hostPort", ", ".join(host_ports))
            if host_ports
            else None
        ],
    )


def _pod_affinity(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    return (
        f"Pod (anti-)affinity or topology spread leaves no node for {view.pod}",
        "The pod's inter-pod affinity/anti-affinity or topology spread constraints cannot "
        "be met on any node (e.g. `requiredDuringScheduling` anti-affinity with more "
        "replicas than nodes).",
        [
            "Use `preferredDuringSchedulingIgnoredDuringExecution` instead of required, or "
            "`whenUnsatisfiable: ScheduleAnyway` for spread constraints.",
            "Or add nodes/zones, or lower the replica count.",
        ],
        [kubectl(view, f"get pod {view.pod} -o jsonpath='{{.spec.affinity}}'")],
        [],
    )


def _unschedulable(view: ReportView, matched: list[_Item]) -> _Built:
    del matched
    return (
        "Nodes are cordoned (unschedulable)",
        "Some nodes are marked unschedulable (cordoned, e.g. during a drain or upgrade).",
        ["Uncordon them once maintenance is done: `kubectl uncordon <node>`."],
        ["kubectl get nodes"],
        [],
    )


_BUILDERS = {
    "insufficient-resources": _insufficient,
    "untolerated-taint": _taint,
    "node-selector-mismatch": _selector,
    "unbound-pvc": _unbound,
    "volume-node-affinity": _volume_affinity,
    "too-many-pods": _too_many_pods,
    "ports-in-use": _ports,
    "pod-affinity": _pod_affinity,
    "unschedulable-nodes": _unschedulable,
}


def analyze_insufficient_resources(view: ReportView) -> Finding | None:
    """Insufficient cpu/memory/gpu on every node."""
    return _finding(view, "insufficient-resources")


def analyze_untolerated_taint(view: ReportView) -> Finding | None:
    """Nodes carry a taint the pod does not tolerate."""
    return _finding(view, "untolerated-taint")


def analyze_node_selector(view: ReportView) -> Finding | None:
    """No node matches the pod's nodeSelector / node affinity."""
    return _finding(view, "node-selector-mismatch")


def analyze_unbound_pvc(view: ReportView) -> Finding | None:
    """A PersistentVolumeClaim of the pod is not bound."""
    return _finding(view, "unbound-pvc")


def analyze_volume_node_affinity(view: ReportView) -> Finding | None:
    """The pod's volume is in a zone/node where it cannot run."""
    return _finding(view, "volume-node-affinity")


def analyze_too_many_pods(view: ReportView) -> Finding | None:
    """Nodes are at their pod limit."""
    return _finding(view, "too-many-pods")


def analyze_ports_in_use(view: ReportView) -> Finding | None:
    """Host ports requested by the pod are taken on every node."""
    return _finding(view, "ports-in-use")


def analyze_pod_affinity(view: ReportView) -> Finding | None:
    """Inter-pod (anti-)affinity or topology spread cannot be satisfied."""
    return _finding(view, "pod-affinity")


def analyze_unschedulable_nodes(view: ReportView) -> Finding | None:
    """Nodes are cordoned."""
    return _finding(view, "unschedulable-nodes")


def analyze_scheduling_other(view: ReportView) -> Finding | None:
    """FailedScheduling with a reason none of the specific analyzers know."""
    parsed = _parse(view)
    if parsed is None:
        return None
    if any(p.search(i.text) for i in parsed.items for _, p in _CASES):
        return None
    if "persistentvolumeclaim" in parsed.message and "not found" in parsed.message:
        return None  # mounts.pvc-not-found explains it
    return make(
        "scheduling.failed",
        f"Pod {view.pod} cannot be scheduled",
        f"The scheduler cannot place pod {code(view.pod)}: {code(parsed.message[:200])}.",
        [
            f"Read the scheduler's full message: `{events_cmd(view)}`.",
            "Compare the pod's requests, nodeSelector, affinity, tolerations and volumes "
            "with the nodes (`kubectl describe nodes`).",
        ],
        [kubectl(view, f"get pod {view.pod} -o wide"), events_cmd(view)],
        [evidence("event", parsed.label, parsed.message)],
        0.7,
    )
