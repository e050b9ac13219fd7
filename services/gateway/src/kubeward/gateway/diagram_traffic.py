"""Observed traffic over a namespace graph: who talked to whom, how often, and whether any of
it was dropped.

Flows come from traffic-store (kguardian rows with ``hits``); a flow's pod and peer IPs are
mapped to the namespace's Pods by ``status.podIP``, and each Pod to the top-level workload
that owns it (a Pod without an owner stands for itself). One ``traffic`` edge per ordered
pair of distinct endpoints, from the side that sent (EGRESS: the pod; INGRESS: the peer),
with ``count`` (hits summed) and ``dropped`` (any flow with decision DROP). A peer outside
the namespace becomes an ``External`` node named by its IP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from kubeward.gateway.diagram_graph import Diagram, Edge, Node, node_id


class TrafficEdge(Edge, kw_only=True):
    """A ``traffic`` edge: how many times the pair was seen and whether any was dropped."""

    count: int
    dropped: bool


def _owners(diagram: Diagram) -> dict[str, str]:
    """Each node's top-level owner along ``owns`` edges (itself when it has none)."""
    parent = {e.target: e.source for e in diagram.edges if e.kind == "owns"}
    top: dict[str, str] = {}
    for node in diagram.nodes:
        current, seen = node.id, set()
        while current in parent and current not in seen:
            seen.add(current)
            current = parent[current]
        top[node.id] = current
    return top


def overlay(
    diagram: Diagram,
    namespace: str,
    pods: Iterable[Mapping[str, Any]],
    flows: Iterable[Mapping[str, Any]],
) -> Diagram:
    """``diagram`` with ``traffic`` edges (and ``External`` nodes) for ``flows``."""
    owners = _owners(diagram)
    by_ip: dict[str, str] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        name = (pod.get("metadata") or {}).get("name")
        if ip and name:
            pod_node = node_id("Pod", str(name), namespace)
            by_ip[str(ip)] = owners.get(pod_node, pod_node)
    nodes = list(diagram.nodes)
    known = {n.id for n in nodes}
    pairs: dict[tuple[str, str], list[int | bool]] = {}
    for flow in flows:
        pod_ip, peer_ip = str(flow.get("pod_ip", "")), str(flow.get("traffic_in_out_ip", ""))
        own = by_ip.get(pod_ip)
        if own is None:
            continue  # a flow of a pod this graph does not show
        peer = by_ip.get(peer_ip)
        if peer is None:
            peer = node_id("External", peer_ip)
            if peer not in known:
                known.add(peer)
                nodes.append(Node(id=peer, kind="External", name=peer_ip, metadata={"ip": peer_ip}))
        source, target = (own, peer) if flow.get("traffic_type") == "EGRESS" else (peer, own)
        if source == target:
            continue
        entry = pairs.setdefault((source, target), [0, False])
        entry[0] = int(entry[0]) + int(flow.get("hits") or 1)
        entry[1] = bool(entry[1]) or flow.get("decision") == "DROP"
    edges: list[Edge] = list(diagram.edges)
    for (source, target), (count, dropped) in sorted(pairs.items()):
        edges.append(
            TrafficEdge(
                id=f"traffic:{source}->{target}",
                source=source,
                target=target,
                kind="traffic",
                count=int(count),
                dropped=bool(dropped),
            )
        )
    return msgspec.structs.replace(diagram, nodes=nodes, edges=edges)
