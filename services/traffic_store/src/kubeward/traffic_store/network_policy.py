"""Least-privilege policies from observed ALLOW flows (pure: resolved flows in, objects out).

One policy per workload: it selects the workload's pods by the labels they all share
(minus those that change between pods), isolates both directions, and allows exactly the
peers seen on the server ports seen. One rule per peer (a workload, or an address outside
the cluster as a ``/32``), so removing a rule blocks exactly that peer's flows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import msgspec

from kubeward.traffic_store.network_model import (
    NAMESPACE_LABEL,
    RULE_PROTOCOLS,
    Peer,
    ResolvedFlow,
    Workload,
    common_labels,
    stable_labels,
)

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubeward"}
CILIUM_NAMESPACE = "k8s:io.kubernetes.pod.namespace"
DNS_PORT = 53

PeerKey = tuple[str, str, str, str]
"""``("pod", namespace, kind, name)``, ``("ip", address, "", "")`` or, covering several
addresses, ``("ip", cidr, cidr, "")`` (one or two CIDRs: IPv4, IPv6)."""
Port = tuple[str, int | str]


class Suggestion(msgspec.Struct, kw_only=True):
    """What ``GET /api/network/policy`` answers (the gateway adds the YAML)."""

    policies: list[dict[str, Any]]
    flows_used: int
    unresolved: list[dict[str, str]]


class _Rule:
    __slots__ = ("labels", "ports", "workload")

    def __init__(self) -> None:
        self.workload: Workload | None = None
        self.labels: dict[str, str] | None = None
        """The stable labels every peer pod seen had (``None`` before the first)."""
        self.ports: set[Port] = set()


class _Target:
    __slots__ = ("egress", "flows", "ingress", "labels")

    def __init__(self) -> None:
        self.labels: dict[str, str] | None = None
        self.ingress: dict[PeerKey, _Rule] = {}
        self.egress: dict[PeerKey, _Rule] = {}
        self.flows: set[str] = set()


def usable(flow: ResolvedFlow) -> bool:
    """Whether a flow can become a rule: a protocol a policy port can name, and a server
    port."""
    return flow.protocol in RULE_PROTOCOLS and flow.port not in (None, 0, "")


def suggest(
    flows: Iterable[ResolvedFlow],
    fmt: str = "kubernetes",
    workload: Workload | None = None,
    cover: bool = False,
) -> Suggestion:
    """Policies for every workload of ``flows`` (or only ``workload``); with ``cover``, the
    outside addresses of a direction share one rule on the smallest CIDR covering them."""
    targets: dict[Workload, _Target] = {}
    unresolved: dict[str, dict[str, str]] = {}
    for flow in flows:
        if workload is not None and flow.workload != workload:
            continue
        if not usable(flow):
            continue
        target = targets.setdefault(flow.workload, _Target())
        target.labels = _shared(target.labels, stable_labels(flow.labels, flow.workload.kind))
        rules = target.ingress if flow.traffic_type == "INGRESS" else target.egress
        peer = flow.peer
        key = _peer_key(peer)
        rule = rules.setdefault(key, _Rule())
        if peer.workload is not None:
            rule.workload = peer.workload
            rule.labels = _shared(rule.labels, stable_labels(peer.labels, peer.workload.kind))
        elif peer.note is not None and peer.ip not in unresolved:
            unresolved[peer.ip] = {"peer": peer.ip, "reason": peer.note}
        assert flow.port is not None
        rule.ports.add((flow.protocol, flow.port))
        if peer.dns:
            rule.ports.update({("UDP", DNS_PORT), ("TCP", DNS_PORT)})
        target.flows.add(flow.flow_id)
    policies: list[dict[str, Any]] = []
    used: set[str] = set()
    for wl in sorted(targets):
        target = targets[wl]
        selector = target.labels or {}
        if not selector:
            unresolved[wl.ref()] = {
                "peer": wl.ref(),
                "reason": "its pods share no stable label to select them by (or the "
                "inventory does not know them); no policy generated",
            }
            continue
        for rule in (*target.ingress.values(), *target.egress.values()):
            if rule.workload is not None and not rule.labels:
                ref = rule.workload.ref()
                unresolved.setdefault(
                    ref,
                    {
                        "peer": ref,
                        "reason": "its pods share no stable label; allowed as every pod of "
                        "its namespace",
                    },
                )
        used |= target.flows
        if cover:
            target.ingress = _covered(target.ingress)
            target.egress = _covered(target.egress)
        build = _cilium if fmt == "cilium" else _kubernetes
        policies.append(build(wl, selector, target))
    return Suggestion(
        policies=policies,
        flows_used=len(used),
        unresolved=sorted(unresolved.values(), key=lambda u: u["peer"]),
    )


def covering_cidr(addresses: list[str]) -> str:
    """The smallest network holding every address (all of one IP version)."""
    parsed = [ipaddress.ip_address(a) for a in addresses]
    low, high = int(min(parsed)), int(max(parsed))
    bits = parsed[0].max_prefixlen - (low ^ high).bit_length()
    network = ipaddress.IPv4Network if parsed[0].version == 4 else ipaddress.IPv6Network
    return str(network((low, bits), strict=False))


def _covered(rules: dict[PeerKey, _Rule]) -> dict[PeerKey, _Rule]:
    """``rules`` with the outside addresses' rules merged into one on covering CIDRs."""
    outside = {k: r for k, r in rules.items() if k[0] == "ip"}
    if len(outside) < 2:
        return rules
    by_version: dict[int, list[str]] = {}
    merged = _Rule()
    for key, rule in outside.items():
        by_version.setdefault(ipaddress.ip_address(key[1]).version, []).append(key[1])
        merged.ports |= rule.ports
    cidrs = [covering_cidr(by_version[v]) for v in sorted(by_version)]
    kept = {k: r for k, r in rules.items() if k[0] != "ip"}
    kept[("ip", cidrs[0], cidrs[-1], "")] = merged
    return kept


def _shared(common: dict[str, str] | None, labels: dict[str, str]) -> dict[str, str]:
    """The labels both ``common`` (``None``: nothing seen yet) and ``labels`` hold alike."""
    if common is None:
        return dict(labels)
    if common.items() <= labels.items():
        return common
    return common_labels([common, labels])


def _peer_key(peer: Peer) -> PeerKey:
    if peer.workload is not None:
        return ("pod", peer.workload.namespace, peer.workload.kind, peer.workload.name)
    return ("ip", peer.ip, "", "")


def _cidrs(key: PeerKey) -> list[str]:
    if key[2]:  # covering CIDRs
        return list(dict.fromkeys(key[1:3]))
    address = ipaddress.ip_address(key[1])
    return [f"{address}/{address.max_prefixlen}"]


def policy_name(wl: Workload) -> str:
    """``<kind>-<name>-least-privilege``, lower case, at most 253 characters."""
    return f"{wl.kind.lower()}-{wl.name}-least-privilege".lower()[:253]


def _metadata(wl: Workload, flows: int) -> dict[str, Any]:
    return {
        "name": policy_name(wl),
        "namespace": wl.namespace,
        "labels": dict(MANAGED_BY),
        "annotations": {
            "kubeward.io/workload": f"{wl.kind}/{wl.name}",
            "kubeward.io/flows-used": str(flows),
        },
    }


def _sorted_rules(rules: dict[PeerKey, _Rule]) -> list[tuple[PeerKey, _Rule]]:
    return sorted(rules.items(), key=lambda item: item[0])


def _k8s_ports(ports: set[Port]) -> list[dict[str, Any]]:
    return [
        {"protocol": proto, "port": port}
        for proto, port in sorted(ports, key=lambda p: (p[0], str(p[1]).zfill(5)))
    ]


def _k8s_peers(wl: Workload, key: PeerKey, rule: _Rule) -> list[dict[str, Any]]:
    if key[0] == "ip":
        return [{"ipBlock": {"cidr": cidr}} for cidr in _cidrs(key)]
    assert rule.workload is not None
    peer: dict[str, Any] = {"podSelector": {"matchLabels": rule.labels or {}}}
    if rule.workload.namespace != wl.namespace:
        peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_LABEL: rule.workload.namespace}}
    return [peer]


def _kubernetes(wl: Workload, selector: dict[str, str], target: _Target) -> dict[str, Any]:
    ingress = [
        {"from": _k8s_peers(wl, key, rule), "ports": _k8s_ports(rule.ports)}
        for key, rule in _sorted_rules(target.ingress)
    ]
    egress = [
        {"to": _k8s_peers(wl, key, rule), "ports": _k8s_ports(rule.ports)}
        for key, rule in _sorted_rules(target.egress)
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(wl, len(target.flows)),
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _cilium_ports(ports: set[Port]) -> list[dict[str, Any]]:
    return [
        {
            "ports": [
                {"port": str(port), "protocol": proto}
                for proto, port in sorted(ports, key=lambda p: (p[0], str(p[1]).zfill(5)))
            ]
        }
    ]


def _cilium_rule(key: PeerKey, rule: _Rule, direction: str) -> dict[str, Any]:
    side = "from" if direction == "ingress" else "to"
    body: dict[str, Any]
    if key[0] == "ip":
        body = {f"{side}CIDR": _cidrs(key)}
    else:
        assert rule.workload is not None
        labels = {f"k8s:{k}": v for k, v in (rule.labels or {}).items()}
        labels[CILIUM_NAMESPACE] = rule.workload.namespace
        body = {f"{side}Endpoints": [{"matchLabels": labels}]}
    body["toPorts"] = _cilium_ports(rule.ports)
    return body


def _cilium(wl: Workload, selector: dict[str, str], target: _Target) -> dict[str, Any]:
    # An empty rule ({}) allows nothing but still puts the direction under policy.
    ingress = [_cilium_rule(k, r, "ingress") for k, r in _sorted_rules(target.ingress)] or [{}]
    egress = [_cilium_rule(k, r, "egress") for k, r in _sorted_rules(target.egress)] or [{}]
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(wl, len(target.flows)),
        "spec": {
            "endpointSelector": {"matchLabels": {f"k8s:{k}": v for k, v in selector.items()}},
            "ingress": ingress,
            "egress": egress,
        },
    }
