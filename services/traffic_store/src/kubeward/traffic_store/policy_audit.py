"""Would-deny audit: which observed flows a set of policies would block (pure).

Kubernetes semantics: policies are additive; a pod selected by any policy that covers a
direction is isolated in that direction and then only traffic some rule of those policies
allows passes; a rule without peers allows every peer, without ports every port; a peer
with ``namespaceSelector`` and ``podSelector`` needs both; ``ipBlock`` takes ``except``;
ports may be named or ranged (``endPort``). CiliumNetworkPolicy is read with the same
meaning (``endpointSelector``, ``from/toEndpoints``, ``from/toCIDR``, ``from/toCIDRSet``,
``from/toEntities``, ``toPorts``; ``ingressDeny``/``egressDeny`` block).

A flow is judged on the side that observed it: an ``INGRESS`` flow by its pod's ingress
policies, an ``EGRESS`` flow by its pod's egress policies (kguardian observes both ends of
in-cluster traffic, so a connection is judged on both). Namespace selectors see the one
namespace label the inventory knows, ``kubernetes.io/metadata.name``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from kubeward.traffic_store.network_model import (
    NAMESPACE_LABEL,
    Peer,
    ResolvedFlow,
    selector_matches,
)

KINDS = {
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("cilium.io/v2", "CiliumNetworkPolicy"),
}
CILIUM_NAMESPACE = "io.kubernetes.pod.namespace"

PeerTest = Callable[[Peer, str], bool]
"""Whether a rule's peer clause matches ``(peer, namespace of the policy)``."""


class PolicyError(ValueError):
    """A policy the audit cannot read; the message names the policy and the field."""


class _PortMatch(msgspec.Struct, frozen=True):
    protocol: str | None  # None: any protocol (Cilium ANY)
    port: int | str | None  # None: every port
    end_port: int | None = None


class _Rule(msgspec.Struct):
    peers: list[PeerTest] | None  # None: every peer
    ports: list[_PortMatch] | None  # None: every port


class Policy(msgspec.Struct):
    """One policy, read into what the audit needs."""

    namespace: str
    name: str
    selector: Callable[[dict[str, str]], bool]
    ingress: list[_Rule] | None
    """``None``: the policy does not cover ingress."""
    egress: list[_Rule] | None
    ingress_deny: list[_Rule] = msgspec.field(default_factory=list)
    egress_deny: list[_Rule] = msgspec.field(default_factory=list)


class Verdict(msgspec.Struct, kw_only=True):
    """The audit's answer (``would_deny`` in its wire shape)."""

    evaluated: int
    would_allow: int
    would_deny: list[dict[str, Any]]


def read_policies(objects: list[dict[str, Any]]) -> list[Policy]:
    """Every object as a :class:`Policy`; ``PolicyError`` naming the first bad one."""
    policies = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise PolicyError(f"document {index + 1}: not an object")
        api, kind = obj.get("apiVersion"), obj.get("kind")
        if (api, kind) not in KINDS:
            raise PolicyError(
                f"document {index + 1}: {api}/{kind} is not a networking.k8s.io/v1 "
                "NetworkPolicy or a cilium.io/v2 CiliumNetworkPolicy"
            )
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise PolicyError(f"document {index + 1}: metadata must be an object")
        name = str(meta.get("name") or f"document {index + 1}")
        namespace = meta.get("namespace")
        if not isinstance(namespace, str) or not namespace:
            raise PolicyError(f"{kind} {name}: metadata.namespace is required")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise PolicyError(f"{kind} {name}: spec is required")
        try:
            if kind == "NetworkPolicy":
                policies.append(_network_policy(namespace, name, spec))
            else:
                policies.append(_cilium_policy(namespace, name, spec))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise PolicyError(f"{kind} {name}: {exc}") from None
    return policies


def audit(policies: list[Policy], flows: Iterable[ResolvedFlow]) -> Verdict:
    """Judge every flow; the denied ones in the answer's shape, most hits first."""
    evaluated = allowed = 0
    denied: list[dict[str, Any]] = []
    by_namespace: dict[str, list[Policy]] = {}
    for policy in policies:
        by_namespace.setdefault(policy.namespace, []).append(policy)
    for flow in flows:
        evaluated += 1
        if allows(by_namespace.get(flow.pod_namespace, []), flow):
            allowed += 1
            continue
        denied.append(
            {
                "pod_name": flow.pod_name,
                "pod_namespace": flow.pod_namespace,
                "traffic_type": flow.traffic_type,
                "peer": flow.peer.ip,
                "peer_workload": flow.peer.workload.ref() if flow.peer.workload else None,
                "port": flow.observed_port or (str(flow.port) if flow.port is not None else ""),
                "ip_protocol": flow.protocol,
                "hits": flow.hits,
                "last_seen": flow.last_seen,
            }
        )
    denied.sort(key=lambda d: (-d["hits"], d["pod_namespace"], d["pod_name"], d["peer"]))
    return Verdict(evaluated=evaluated, would_allow=allowed, would_deny=denied)


def allows(policies: list[Policy], flow: ResolvedFlow) -> bool:
    """Whether ``policies`` (of the flow's namespace) let ``flow`` pass."""
    ingress = flow.traffic_type == "INGRESS"
    isolated = False
    allowed = False
    for policy in policies:
        if not policy.selector(flow.labels):
            continue
        deny = policy.ingress_deny if ingress else policy.egress_deny
        if any(_rule_matches(rule, policy.namespace, flow) for rule in deny):
            return False
        rules = policy.ingress if ingress else policy.egress
        if rules is None:
            continue
        isolated = True
        if not allowed and any(_rule_matches(rule, policy.namespace, flow) for rule in rules):
            allowed = True
    return allowed or not isolated


def _rule_matches(rule: _Rule, namespace: str, flow: ResolvedFlow) -> bool:
    if rule.peers is not None and not any(test(flow.peer, namespace) for test in rule.peers):
        return False
    if rule.ports is None:
        return True
    return any(_port_matches(p, flow) for p in rule.ports)


def _port_matches(match: _PortMatch, flow: ResolvedFlow) -> bool:
    if match.protocol is not None and match.protocol != flow.protocol:
        return False
    if match.port is None:
        return True
    if isinstance(match.port, str):
        return match.port in (flow.port, flow.port_name)
    if not isinstance(flow.port, int):
        return False
    return match.port <= flow.port <= (match.end_port or match.port)


# --- Kubernetes NetworkPolicy --------------------------------------------------


def _selector(selector: Any) -> Callable[[dict[str, str]], bool]:
    selector_matches(selector, {})  # raises on a malformed selector
    return lambda labels: selector_matches(selector, labels)


def _network_policy(namespace: str, name: str, spec: dict[str, Any]) -> Policy:
    if "podSelector" not in spec:
        raise ValueError("spec.podSelector is required")
    types = spec.get("policyTypes")
    if types is None:  # as the API server defaults it: Egress only when it has rules
        types = ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
        raise ValueError(f"policyTypes must list Ingress and/or Egress, not {types!r}")
    ingress = _k8s_rules(spec.get("ingress"), "from") if "Ingress" in types else None
    egress = _k8s_rules(spec.get("egress"), "to") if "Egress" in types else None
    return Policy(namespace, name, _selector(spec["podSelector"]), ingress, egress)


def _k8s_rules(rules: Any, side: str) -> list[_Rule]:
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise ValueError(f"rules must be a list, not {rules!r}")
    read = []
    for rule in rules:
        rule = rule or {}
        peers = rule.get(side)
        ports = rule.get("ports")
        read.append(
            _Rule(
                peers=[_k8s_peer(p) for p in peers] if peers else None,
                ports=[_k8s_port(p) for p in ports] if ports else None,
            )
        )
    return read


def _k8s_peer(peer: dict[str, Any]) -> PeerTest:
    if "ipBlock" in peer:
        return _ip_block(peer["ipBlock"].get("cidr"), peer["ipBlock"].get("except") or [])
    if "podSelector" not in peer and "namespaceSelector" not in peer:
        raise ValueError(f"a peer needs podSelector, namespaceSelector or ipBlock: {peer!r}")
    pods = _selector(peer.get("podSelector"))
    has_ns = "namespaceSelector" in peer
    namespaces = _selector(peer.get("namespaceSelector"))

    def test(p: Peer, namespace: str) -> bool:
        if p.workload is None:
            return False
        if has_ns:
            ns_ok = namespaces({NAMESPACE_LABEL: p.workload.namespace})
        else:
            ns_ok = p.workload.namespace == namespace
        return ns_ok and pods(p.labels)

    return test


def _ip_block(cidr: Any, excepted: list[Any]) -> PeerTest:
    network = ipaddress.ip_network(str(cidr), strict=False)
    holes = [ipaddress.ip_network(str(e), strict=False) for e in excepted]

    def test(p: Peer, _namespace: str) -> bool:
        try:
            address = ipaddress.ip_address(p.ip)
        except ValueError:
            return False
        if address.version != network.version or address not in network:
            return False
        return not any(address.version == h.version and address in h for h in holes)

    return test


def _k8s_port(port: dict[str, Any]) -> _PortMatch:
    protocol = str(port.get("protocol") or "TCP").upper()
    value = port.get("port")
    end = port.get("endPort")
    if value is not None and not isinstance(value, int):
        value = int(value) if str(value).isdigit() else str(value)
    return _PortMatch(protocol, value, int(end) if end is not None else None)


# --- CiliumNetworkPolicy -------------------------------------------------------


def _cilium_labels(labels: dict[str, str], namespace: str) -> dict[str, str]:
    return labels | {CILIUM_NAMESPACE: namespace}


def _cilium_selector(selector: Any) -> tuple[Any, bool]:
    """A selector with ``k8s:``/``any:`` prefixes dropped, and whether it names a namespace."""
    if selector is None:
        return None, False
    if not isinstance(selector, dict):
        raise ValueError(f"an endpoint selector must be an object, not {selector!r}")
    plain: dict[str, Any] = {}
    names_ns = False
    if "matchLabels" in selector:
        plain["matchLabels"] = {}
        for key, value in (selector["matchLabels"] or {}).items():
            bare = str(key).split(":", 1)[1] if ":" in str(key) else str(key)
            names_ns |= bare == CILIUM_NAMESPACE
            plain["matchLabels"][bare] = value
    if "matchExpressions" in selector:
        plain["matchExpressions"] = []
        for expr in selector["matchExpressions"] or []:
            key = str(expr.get("key", ""))
            bare = key.split(":", 1)[1] if ":" in key else key
            names_ns |= bare == CILIUM_NAMESPACE
            plain["matchExpressions"].append({**expr, "key": bare})
    selector_matches(plain, {})
    return plain, names_ns


def _cilium_policy(namespace: str, name: str, spec: dict[str, Any]) -> Policy:
    if "endpointSelector" not in spec:
        raise ValueError("spec.endpointSelector is required (nodeSelector is not supported)")
    selected, _ = _cilium_selector(spec["endpointSelector"])

    def select(labels: dict[str, str]) -> bool:
        return selector_matches(selected, _cilium_labels(labels, namespace))

    def rules(key: str) -> list[_Rule]:
        given = spec.get(key) or []
        if not isinstance(given, list):
            raise ValueError(f"{key} must be a list")
        return [_cilium_rule(r or {}, "from" if "ingress" in key else "to") for r in given]

    default_deny = spec.get("enableDefaultDeny") or {}
    if not isinstance(default_deny, dict):
        raise ValueError("enableDefaultDeny must be an object")

    def direction(key: str) -> tuple[list[_Rule] | None, list[_Rule]]:
        # A direction with any rule, allow or deny, is under policy (default deny),
        # unless enableDefaultDeny turns that off; then only its deny rules bite.
        allow, deny = rules(key), rules(f"{key}Deny")
        covered = bool(allow or deny) and default_deny.get(key, True) is not False
        return (allow if covered else None), deny

    ingress, ingress_deny = direction("ingress")
    egress, egress_deny = direction("egress")
    return Policy(namespace, name, select, ingress, egress, ingress_deny, egress_deny)


def _cilium_rule(rule: dict[str, Any], side: str) -> _Rule:
    peers: list[PeerTest] = []
    l3 = False
    for selector in rule.get(f"{side}Endpoints") or []:
        l3 = True
        peers.append(_cilium_endpoint(selector))
    for cidr in rule.get(f"{side}CIDR") or []:
        l3 = True
        peers.append(_ip_block(cidr, []))
    for item in rule.get(f"{side}CIDRSet") or []:
        l3 = True
        peers.append(_ip_block(item.get("cidr"), item.get("except") or []))
    for entity in rule.get(f"{side}Entities") or []:
        l3 = True
        peers.append(_entity(str(entity)))
    to_ports = rule.get("toPorts")
    ports: list[_PortMatch] | None = None
    if to_ports:
        ports = []
        for block in to_ports:
            for port in block.get("ports") or []:
                protocol = str(port.get("protocol") or "ANY").upper()
                value = str(port.get("port", "0"))
                number: int | str | None = int(value) if value.isdigit() else value
                if number == 0:
                    number = None
                end = port.get("endPort")
                ports.append(
                    _PortMatch(
                        None if protocol == "ANY" else protocol,
                        number,
                        int(end) if end is not None else None,
                    )
                )
    if not l3:
        # Cilium: a rule with ports only applies to every peer; an empty rule to none.
        return _Rule(peers=None, ports=ports) if to_ports else _Rule(peers=[], ports=None)
    return _Rule(peers=peers, ports=ports)


def _cilium_endpoint(selector: Any) -> PeerTest:
    plain, names_ns = _cilium_selector(selector)

    def test(p: Peer, namespace: str) -> bool:
        if p.workload is None:
            return False
        if not names_ns and p.workload.namespace != namespace:
            return False  # a namespaced policy's endpoint selectors stay in its namespace
        return selector_matches(plain, _cilium_labels(p.labels, p.workload.namespace))

    return test


def _entity(entity: str) -> PeerTest:
    if entity not in ("all", "world", "cluster", "host", "remote-node", "kube-apiserver"):
        raise ValueError(f"unknown entity {entity!r}")

    def test(p: Peer, _namespace: str) -> bool:
        if entity == "all":
            return True
        if entity == "world":
            return p.workload is None
        if entity == "cluster":
            return p.workload is not None
        return False  # nodes and the API server are not in the inventory

    return test
