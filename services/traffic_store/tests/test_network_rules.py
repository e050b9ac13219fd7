"""Pure tests of policy suggestion and audit: Kubernetes semantics case by case, and the
property that ties them together (no database: resolved flows are built directly)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeward.traffic_store.network_model import Peer, ResolvedFlow, Workload
from kubeward.traffic_store.network_policy import suggest
from kubeward.traffic_store.policy_audit import PolicyError, audit, read_policies

DNS = Workload("kube-system", "Deployment", "coredns")
DNS_LABELS = {"k8s-app": "kube-dns", "pod-template-hash": "5d78c"}


def workload(i: int) -> Workload:
    return Workload("a" if i % 3 else "b", "Deployment", f"w{i}")


def labels(i: int) -> dict[str, str]:
    return {"app": f"w{i}", "pod-template-hash": f"h{i}x"}


def make_flow(
    n: int,
    subject: int,
    direction: str,
    peer: Peer,
    port: int | str,
    protocol: str = "TCP",
) -> ResolvedFlow:
    wl = workload(subject)
    return ResolvedFlow(
        flow_id=f"f{n}",
        pod_name=f"{wl.name}-pod",
        pod_namespace=wl.namespace,
        workload=wl,
        labels=labels(subject),
        traffic_type=direction,
        protocol=protocol,
        port=port,
        port_name=port if isinstance(port, str) else None,
        peer=peer,
        hits=n + 1,
        last_seen="2026-05-12T10:00:00.000000",
        observed_port=str(port),
    )


def pod_peer(i: int) -> Peer:
    return Peer(ip=f"10.244.0.{i}", workload=workload(i), labels=labels(i))


def external(i: int) -> Peer:
    return Peer(ip=f"203.0.113.{i}", note="outside")


def dns_peer() -> Peer:
    return Peer(ip="10.96.0.10", workload=DNS, labels=DNS_LABELS, dns=True)


def denied(policies: list[dict[str, Any]], flows: list[ResolvedFlow]) -> set[str]:
    verdict = audit(read_policies(policies), flows)
    assert verdict.evaluated == len(flows)
    assert verdict.would_allow + len(verdict.would_deny) == len(flows)
    ids = {
        (f.pod_name, f.traffic_type, f.peer.ip, f.observed_port, f.protocol): f.flow_id
        for f in flows
    }
    return {
        ids[(d["pod_name"], d["traffic_type"], d["peer"], d["port"], d["ip_protocol"])]
        for d in verdict.would_deny
    }


# --- the property -----------------------------------------------------------------

_peers = st.one_of(
    st.integers(0, 5).map(pod_peer),
    st.integers(1, 4).map(external),
    st.just(dns_peer()),
)
_flows = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from(["INGRESS", "EGRESS"]),
        _peers,
        st.sampled_from([80, 443, 5432, 8080, 9000, "http"]),
        st.sampled_from(["TCP", "UDP"]),
    ),
    min_size=1,
    max_size=25,
)


def world(raw: list[tuple[int, str, Peer, int | str, str]]) -> list[ResolvedFlow]:
    flows = []
    seen = set()
    for n, (subject, direction, peer, port, protocol) in enumerate(raw):
        if peer.dns:
            port, protocol = 53, "UDP"
        key = (subject, direction, peer.ip, port, protocol)
        if key not in seen:  # a stored flow is unique on these
            seen.add(key)
            flows.append(make_flow(n, subject, direction, peer, port, protocol))
    return flows


def rule_peer(policy: dict[str, Any], rule: dict[str, Any], side: str) -> str:
    """Who a generated rule names: an address, or ``namespace/app``."""
    (peer,) = rule[side]
    if "ipBlock" in peer:
        return str(peer["ipBlock"]["cidr"]).removesuffix("/32")
    ns = policy["metadata"]["namespace"]
    if "namespaceSelector" in peer:
        ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    app = peer["podSelector"]["matchLabels"].get("app") or "kube-dns"
    return f"{ns}/{app}"


def flow_peer(flow: ResolvedFlow) -> str:
    if flow.peer.workload is None:
        return flow.peer.ip
    return f"{flow.peer.workload.namespace}/{flow.peer.labels.get('app') or 'kube-dns'}"


@settings(max_examples=60, deadline=None)
@given(_flows)
def test_suggest_then_audit_denies_nothing_and_each_rule_covers_exactly_its_flows(
    raw: list[tuple[int, str, Peer, int | str, str]],
) -> None:
    flows = world(raw)
    for fmt in ("kubernetes", "cilium"):
        assert denied(suggest(flows, fmt).policies, flows) == set(), fmt
    policies = suggest(flows).policies
    assert {p["metadata"]["annotations"]["kubeward.io/workload"] for p in policies} == {
        f"Deployment/{f.workload.name}" for f in flows
    }
    for index, policy in enumerate(policies):
        wl = policy["metadata"]["annotations"]["kubeward.io/workload"].split("/")[1]
        for direction, side in (("ingress", "from"), ("egress", "to")):
            for position, rule in enumerate(policy["spec"][direction]):
                narrowed = copy.deepcopy(policies)
                del narrowed[index]["spec"][direction][position]
                allowed_by_rule = {
                    f.flow_id
                    for f in flows
                    if f.workload.name == wl
                    and f.traffic_type == direction.upper()
                    and flow_peer(f) == rule_peer(policy, rule, side)
                }
                assert allowed_by_rule, (policy, rule)
                assert denied(narrowed, flows) == allowed_by_rule


# --- Kubernetes semantics, case by case -------------------------------------------


def policy(namespace: str, spec: dict[str, Any], kind: str = "NetworkPolicy") -> dict[str, Any]:
    api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "cilium.io/v2"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


W1_IN = make_flow(1, 1, "INGRESS", pod_peer(2), 8080)  # a/w1 <- a/w2
W1_OUT_EXT = make_flow(2, 1, "EGRESS", external(7), 443)  # a/w1 -> 203.0.113.7
W1_IN_FROM_B = make_flow(3, 1, "INGRESS", pod_peer(3), 8080)  # a/w1 <- b/w3
W1_OUT_NAMED = make_flow(4, 1, "EGRESS", pod_peer(2), "http")
FLOWS = [W1_IN, W1_OUT_EXT, W1_IN_FROM_B, W1_OUT_NAMED]


def test_isolation_is_per_direction_and_policies_add_up() -> None:
    deny_ingress = policy("a", {"podSelector": {}})  # policyTypes defaults to Ingress
    assert denied([deny_ingress], FLOWS) == {"f1", "f3"}
    other_namespace = policy("b", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    assert denied([other_namespace], FLOWS) == set()
    allow_w2 = policy(
        "a",
        {
            "podSelector": {"matchLabels": {"app": "w1"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "w2"}}}]}],
        },
    )
    assert denied([deny_ingress, allow_w2], FLOWS) == {"f3"}
    allow_all = policy("a", {"podSelector": {}, "ingress": [{}]})  # no peers, no ports
    assert denied([deny_ingress, allow_all], FLOWS) == set()
    no_egress_rules = policy("a", {"podSelector": {}, "egress": []})  # defaults to Ingress
    assert denied([no_egress_rules], FLOWS) == {"f1", "f3"}
    unselected = policy(
        "a",
        {
            "podSelector": {
                "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["w1"]}]
            }
        },
    )
    assert denied([unselected], FLOWS) == set()


def test_namespace_and_pod_selectors_together() -> None:
    def ingress_from(peer: dict[str, Any]) -> dict[str, Any]:
        return policy("a", {"podSelector": {}, "ingress": [{"from": [peer]}]})

    # a podSelector alone stays in the policy's namespace
    assert denied([ingress_from({"podSelector": {}})], FLOWS) == {"f3"}
    # an empty namespaceSelector is every namespace
    assert denied([ingress_from({"namespaceSelector": {}})], FLOWS) == set()
    in_b = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}
    assert denied([ingress_from(in_b)], FLOWS) == {"f1"}
    assert denied(
        [ingress_from(in_b | {"podSelector": {"matchLabels": {"app": "w3"}}})], FLOWS
    ) == {"f1"}
    assert denied(
        [ingress_from(in_b | {"podSelector": {"matchLabels": {"app": "w2"}}})], FLOWS
    ) == {"f1", "f3"}
    # pods never match an ipBlock-only rule... unless their address is in it
    assert denied(
        [ingress_from({"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.0.3/32"]}})], FLOWS
    ) == {"f3"}


def test_ip_blocks_ports_ranges_and_names() -> None:
    def egress(rule: dict[str, Any]) -> dict[str, Any]:
        return policy("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})

    world_but_one = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}}]}
    assert denied([egress(world_but_one)], FLOWS) == {"f2"}
    assert denied([egress({"ports": [{"port": 400, "endPort": 500}]})], FLOWS) == {"f4"}
    assert denied([egress({"ports": [{"port": 444, "endPort": 500}]})], FLOWS) == {"f2", "f4"}
    assert denied([egress({"ports": [{"port": 443, "protocol": "UDP"}]})], FLOWS) == {"f2", "f4"}
    assert denied([egress({"ports": [{"port": "http"}, {"port": 443}]})], FLOWS) == set()
    assert denied([egress({"ports": [{"protocol": "TCP"}]})], FLOWS) == set()


def test_cilium_rules() -> None:
    def cnp(spec: dict[str, Any]) -> dict[str, Any]:
        return policy(
            "a",
            {"endpointSelector": {"matchLabels": {"k8s:app": "w1"}}} | spec,
            "CiliumNetworkPolicy",
        )

    assert denied([cnp({"ingress": [{}]})], FLOWS) == {"f1", "f3"}
    ports_only = {"toPorts": [{"ports": [{"port": "8080", "protocol": "ANY"}]}]}
    assert denied([cnp({"ingress": [ports_only]})], FLOWS) == set()
    same_ns = {"fromEndpoints": [{}]}  # a namespaced policy's selectors stay in its namespace
    assert denied([cnp({"ingress": [same_ns]})], FLOWS) == {"f3"}
    in_b = {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "b"}}]}
    assert denied([cnp({"ingress": [in_b]})], FLOWS) == {"f1"}
    assert denied([cnp({"egress": [{"toEntities": ["world"]}]})], FLOWS) == {"f4"}
    assert denied([cnp({"ingress": []})], FLOWS) == set()  # no rule: not under policy
    assert denied([cnp({"egressDeny": [{"toEntities": ["world"]}]})], FLOWS) == {"f2", "f4"}
    no_default_deny = {"enableDefaultDeny": {"egress": False}}
    only_deny = cnp(no_default_deny | {"egressDeny": [{"toEntities": ["world"]}]})
    assert denied([only_deny], FLOWS) == {"f2"}
    assert denied(
        [
            cnp(
                {
                    "egress": [{"toEntities": ["all"]}],
                    "egressDeny": [{"toCIDR": ["203.0.113.7/32"]}],
                }
            )
        ],
        FLOWS,
    ) == {"f2"}


def test_unreadable_policies_are_named() -> None:
    bad = [
        ({"apiVersion": "v1", "kind": "Service"}, "is not a networking.k8s.io/v1"),
        (policy("a", {"ingress": []}), "spec.podSelector is required"),
        (
            policy("a", {"podSelector": {"matchExpressions": [{"key": "x", "operator": "Near"}]}}),
            "unknown matchExpressions operator",
        ),
        (
            policy(
                "a",
                {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
            ),
            "10.0.0.0/33",
        ),
        (policy("a", {"podSelector": {}, "policyTypes": ["Sideways"]}), "policyTypes"),
        ({**policy("a", {"podSelector": {}}), "metadata": ["x"]}, "metadata must be an object"),
        (policy("a", {"endpointSelector": "app=x"}, "CiliumNetworkPolicy"), "must be an object"),
    ]
    for obj, message in bad:
        with pytest.raises(PolicyError, match=re.escape(message)):
            read_policies([obj])


def test_outside_addresses_covered_by_one_cidr_when_asked() -> None:
    flows = [
        make_flow(1, 1, "EGRESS", external(5), 443),
        make_flow(2, 1, "EGRESS", external(9), 8443),
        make_flow(3, 1, "EGRESS", Peer(ip="2001:db8::1"), 443),
        make_flow(4, 1, "EGRESS", Peer(ip="2001:db8::ff"), 443),
        make_flow(5, 1, "EGRESS", pod_peer(2), 80),
    ]
    exact = suggest(flows).policies[0]["spec"]["egress"]
    assert len(exact) == 5
    (covered, to_w2) = suggest(flows, cover=True).policies[0]["spec"]["egress"]
    assert covered == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}, {"ipBlock": {"cidr": "2001:db8::/120"}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}],
    }
    assert to_w2["to"] == [{"podSelector": {"matchLabels": {"app": "w2"}}}]
    for fmt in ("kubernetes", "cilium"):
        assert denied(suggest(flows, fmt, cover=True).policies, flows) == set()
    cilium = suggest(flows, "cilium", cover=True).policies[0]["spec"]["egress"][0]
    assert cilium["toCIDR"] == ["203.0.113.0/28", "2001:db8::/120"]
    one = [flows[0], flows[4]]  # a single address stays exact
    assert suggest(one, cover=True).policies[0]["spec"]["egress"][0]["to"] == [
        {"ipBlock": {"cidr": "203.0.113.5/32"}}
    ]
