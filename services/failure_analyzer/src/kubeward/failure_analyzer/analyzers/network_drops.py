"""Failures explained by dropped traffic: a NetworkPolicy drops the pod's connections.

Unlike the other analyzers this one needs more than the report: the DROP flows
traffic-store holds around the failure (:class:`~kubeward.schemas.network.DropReport`),
asked for before the diagnosis. Without drops it says nothing.

Confidence: a dropped peer that the logs name as refused or timed out
(:data:`MATCHED`) beats every log-based answer, the generic "cannot reach" one included;
drops while the logs show some other connection failing (:data:`NETWORK_LOGS`) still beat
that generic answer; drops without any failing connection in the logs
(:data:`DROPS_ONLY`) are a lead below the specific crash causes.
"""

from __future__ import annotations

import yaml

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    evidence,
    from_log,
    kubectl,
    log_finding_context,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.analyzers.dependencies import unreachable_hits
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import LogHit, ReportView
from kubeward.schemas.network import DroppedPeer, DropReport

MATCHED = 0.97
NETWORK_LOGS = 0.89
DROPS_ONLY = 0.66
ANALYZER = "network.policy-drop"
_CLUSTER_SUFFIX = ".svc.cluster.local"


def log_addresses(view: ReportView) -> list[str]:
    """Hosts and IPs the logs show connections to being refused or timing out."""
    return list(dict.fromkeys(host for _, _, host, _ in unreachable_hits(view) if host))


def _names(peer: DroppedPeer) -> set[str]:
    """What a log may call the peer: its IP, its Service's and workload's names."""
    names = {peer.peer_ip}
    if peer.peer_service:
        namespace, _, name = peer.peer_service.partition("/")
        names |= {name, f"{name}.{namespace}", f"{name}.{namespace}.svc"}
        names.add(f"{name}.{namespace}{_CLUSTER_SUFFIX}")
    if peer.peer_name:
        names.add(peer.peer_name)
    return names


def _matches(peer: DroppedPeer, host: str | None, port: str | None) -> bool:
    if not host:
        return False
    if host.strip("[]").lower().removesuffix(".") not in _names(peer):
        return False
    return port is None or port in (peer.dialled_port, peer.port)


def _pick(
    view: ReportView, drops: DropReport
) -> tuple[DroppedPeer, tuple[LogHit, str, str | None, str | None] | None, float]:
    hits = unreachable_hits(view)
    for hit in hits:
        for peer in drops.peers:
            if _matches(peer, hit[2], hit[3]):
                return peer, hit, MATCHED
    if hits:
        return drops.peers[0], hits[0], NETWORK_LOGS
    return drops.peers[0], None, DROPS_ONLY


def _peer_text(peer: DroppedPeer) -> str:
    if peer.peer_workload:
        text = f"{peer.peer_kind} {code(peer.peer_name or '?')} in namespace "
        text += code(peer.peer_namespace or "?")
    else:
        text = f"the address {code(peer.peer_ip)} (no pod or Service held it)"
    if peer.peer_service:
        text += f" (through Service {code(peer.peer_service)}, port {peer.dialled_port})"
    return text


def _time(stored: str) -> str:
    """A stored time (naive UTC) to the second, marked UTC."""
    return stored[:19] + "Z"


def _flow_evidence(peer: DroppedPeer) -> list[Evidence]:
    return [
        evidence(
            "traffic",
            f"DROP x{flow.hits}",
            f"{flow.pod_namespace}/{flow.pod_name} {flow.traffic_type} "
            f"{flow.pod_ip}:{flow.pod_port} <-> {flow.peer_ip}:{flow.peer_port}/"
            f"{flow.ip_protocol}, last {_time(flow.last_seen)}",
        )
        for flow in peer.flows
    ]


def analyze_dropped_traffic(view: ReportView, drops: DropReport | None) -> Finding | None:
    """A NetworkPolicy drops the traffic of the pod (or its workload, or to the address its
    logs fail to reach) in the minutes before the failure."""
    if drops is None or not drops.peers:
        return None
    peer, hit, confidence = _pick(view, drops)
    side = "egress" if peer.dropped_at == "egress" else "ingress"
    owner = peer.source if side == "egress" else peer.destination
    port = f"{peer.dialled_port}/{peer.protocol}"
    target_port = f" (target port {code(peer.port)})" if peer.port != peer.dialled_port else ""
    first, last = _time(peer.first_seen), _time(peer.last_seen)
    when = f"at {first}" if first == last else f"between {first} and {last}"
    seen = (
        f"kguardian recorded **{peer.drops}** {'drop' if peer.drops == 1 else 'drops'} of "
        f"traffic from {code(peer.source)} to {code(peer.destination)} on port {code(port)}"
        f"{target_port} {when}: a NetworkPolicy on the {side} of {code(owner)} drops it. "
        f"The peer is {_peer_text(peer)}."
    )
    container, status = (None, None)
    if hit is not None:
        container, status = log_finding_context(view, hit[0])
        what = "is refused connecting to" if hit[1] == "refused" else "times out connecting to"
        target = f"{hit[2]}:{hit[3]}" if hit[2] and hit[3] else hit[2] or "a dependency"
        line = code(hit[0].line[:160])
        cause = f"Container {code(container)} {what} {code(target)} (log: {line})"
        cause += (
            ", and that traffic is dropped by a NetworkPolicy. "
            if confidence == MATCHED
            else ". Traffic of this pod is dropped by a NetworkPolicy. "
        )
    else:
        cause = "Traffic of this pod is dropped by a NetworkPolicy in the minutes before it "
        cause += "failed. "
    fix: list[str] = []
    labels: dict[str, str] = {}
    if peer.fix is not None:
        policy = yaml.safe_dump(peer.fix, sort_keys=False, default_flow_style=False)
        labels = peer.fix.get("spec", {}).get("podSelector", {}).get("matchLabels", {}) or {}
        fix.append(
            f"If the traffic is wanted, allow it with this NetworkPolicy (policies add up: it "
            f"opens only this {side} and isolates nothing new):\n```yaml\n{policy}```\n"
            f"and apply it: `kubectl apply -f {peer.fix['metadata']['name']}.yaml`."
        )
    else:
        fix.append(
            f"If the traffic is wanted, add a rule to the {side} policies of {code(owner)} "
            f"that allows {code(peer.source)} to {code(peer.destination)} on {code(port)}."
        )
    fix.append(
        "If it should stay blocked, the app must not depend on it: point it at an allowed "
        "endpoint, or make it start without it."
    )
    others = [p for p in drops.peers if p is not peer]
    if others:
        fix.append(
            "Also dropped in the same minutes: "
            + "; ".join(
                f"{code(p.source)} -> {code(p.destination)} {p.dialled_port}/{p.protocol} "
                f"({p.drops})"
                for p in others[:4]
            )
            + "."
        )
    namespace = owner.split("/", 1)[0] if "/" in owner else view.namespace
    host = peer.peer_service.split("/")[1] if peer.peer_service else peer.peer_ip
    if peer.peer_service:
        host += f".{peer.peer_service.split('/')[0]}"
    label_opt = f" --labels={','.join(f'{k}={v}' for k, v in labels.items())}" if labels else ""
    checks = [
        f"kubectl -n {namespace} get networkpolicy",
        kubectl(
            view,
            f"run net-check --rm -it --restart=Never{label_opt} --image=busybox:1.36 -- "
            f"nc -zv -w 3 {host} {peer.dialled_port}",
        ),
        *crash_checks(view, container),
    ]
    found: list[Evidence | None] = [from_log(hit[0]) if hit else None]
    found += _flow_evidence(peer)
    found.append(status_evidence(status) if status else None)
    short_peer = peer.peer_name or peer.peer_ip
    return make(
        ANALYZER,
        f"NetworkPolicy drops traffic to {short_peer}:{peer.dialled_port}/{peer.protocol} "
        f"({peer.drops} drops)",
        cause + seen,
        fix,
        checks,
        found,
        confidence,
    )
