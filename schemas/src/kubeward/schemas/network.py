"""Network intelligence requests: policy suggestion, would-deny audit, seccomp profiles.

The gateway parses and renders YAML; over the bus policies travel as JSON objects.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PolicyFormat = Literal["kubernetes", "cilium"]
CidrMode = Literal["exact", "cover"]
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"})
"""``kind`` values ``GET /api/network/policy`` accepts."""


class PolicySuggestQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/network/policy``: least-privilege policies from observed ALLOW flows."""

    namespace: str
    kind: str | None = None
    """With ``name``: one workload; without: every workload of the namespace with flows."""
    name: str | None = None
    format: PolicyFormat = "kubernetes"
    cidr: CidrMode = "exact"
    """``exact``: one ``/32`` (``/128``) rule per outside address; ``cover``: per direction,
    the smallest CIDR covering all of them (per IP version), in one rule."""
    since: str | None = None
    """Inclusive lower bound on a flow's last sighting (normalised naive UTC)."""
    until: str | None = None
    """Exclusive upper bound on a flow's first sighting."""


class PolicyAuditRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /api/network/audit``: the observed flows the given policies would block."""

    policies: list[dict[str, Any]]
    """NetworkPolicy / CiliumNetworkPolicy objects, as parsed from the caller's YAML."""
    since: str | None = None
    until: str | None = None


class SeccompQuery(msgspec.Struct, kw_only=True):
    """``GET /api/seccomp/{namespace}/{pod}``."""

    namespace: str
    pod: str


# --- Failures and traffic (issue 16, parts 3 and 4) ------------------------------------

DROP_WINDOW_MINUTES = 10
"""How far before a failure the failure-analyzer looks for dropped traffic."""
IMPACT_MINUTES_BEFORE = 10
"""``GET /api/pods/failed/{id}/impact``: minutes before the failure (``?minutes=``)."""
IMPACT_MINUTES_AFTER = 2
"""... and after it."""
IMPACT_MINUTES_MAX = 1440


class DropQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Dropped traffic around a failed pod: its own and its workload's DROP flows, DROPs
    of its connections seen at the other end, and DROPs to ``addresses`` from its
    namespace (hosts and IPs its logs could not reach)."""

    namespace: str
    pod_name: str
    since: str
    """Inclusive lower bound on a flow's last sighting (normalised naive UTC)."""
    until: str
    """Exclusive upper bound on a flow's first sighting."""
    addresses: list[str] = []
    """IPs or host names (``svc``, ``svc.ns``, ``svc.ns.svc.cluster.local``)."""


class DropQueries(msgspec.Struct, kw_only=True):
    """Several :class:`DropQuery`, answered together (a fetched batch of failure reports)."""

    queries: list[DropQuery]


class DroppedFlow(msgspec.Struct, kw_only=True):
    """One stored DROP flow, as evidence."""

    pod_name: str
    """The pod that observed the drop."""
    pod_namespace: str
    traffic_type: str
    pod_ip: str
    pod_port: str
    peer_ip: str
    peer_port: str
    ip_protocol: str
    hits: int
    first_seen: str
    last_seen: str


class DroppedPeer(msgspec.Struct, kw_only=True):
    """DROP flows between the failed pod's workload and one peer on one server port.

    ``source`` opens the connection, ``destination`` serves it; ``dropped_at`` says whose
    policy dropped it (``egress`` of the source, ``ingress`` of the destination)."""

    source: str
    """``namespace/Kind/name`` of the client workload, else its IP."""
    destination: str
    """``namespace/Kind/name`` of the server workload, else its IP."""
    peer_workload: str | None
    """The other end seen from the failed pod: ``namespace/Kind/name`` (``None``: unknown)."""
    peer_namespace: str | None
    peer_kind: str | None
    peer_name: str | None
    peer_ip: str
    peer_service: str | None = None
    """``namespace/name`` of the Service whose cluster IP was dialled, if one was."""
    port: str
    """The server port (a Service's target port when the call went through one)."""
    dialled_port: str
    """The port as observed on the wire (a Service's own port)."""
    protocol: str
    dropped_at: str
    """``egress`` (the source's policies) or ``ingress`` (the destination's)."""
    via: str
    """``pod`` (the failed pod's own flows), ``workload`` (another pod of its workload),
    ``peer`` (seen at the other end), ``address`` (to an address named in the logs)."""
    drops: int
    """Events dropped (the flows' hits)."""
    first_seen: str
    last_seen: str
    fix: dict[str, Any] | None = None
    """A NetworkPolicy allowing exactly this traffic on the side that dropped it (additive:
    it only covers that direction), or ``None`` when the side's pods cannot be selected."""
    flows: list[DroppedFlow] = []
    """Up to a few of the flows, newest first."""


class DropReport(msgspec.Struct, kw_only=True):
    """What traffic-store answers to a :class:`DropQuery` (most drops first)."""

    since: str
    until: str
    pod_ips: list[str] = []
    peers: list[DroppedPeer] = []


class DropReports(msgspec.Struct, kw_only=True):
    """The answer to :class:`DropQueries`: one :class:`DropReport` per query, in order."""

    reports: list[DropReport]
    newest_drop: str | None = None
    """The newest DROP sighting stored when the answer was made (``""``: none);
    ``None`` when traffic-store does not know it yet. A failure whose window begins after
    it has no DROP to find: the asker may answer such queries itself for a short while."""
    newest_flow: str | None = None
    """The same for every flow (``""``: none stored): a failure whose window begins after
    it had no callers (:class:`ImpactQuery`)."""


class ImpactQuery(msgspec.Struct, kw_only=True):
    """The workloads that talked to a pod (directly or through its Services) in a window."""

    namespace: str
    pod_name: str
    since: str
    until: str


class Caller(msgspec.Struct, kw_only=True):
    """One workload (or address) that called the pod in the window."""

    workload: str | None
    """``namespace/Kind/name``; ``None`` for an address no pod or Service held."""
    namespace: str | None
    kind: str | None
    name: str | None
    ip: str | None = None
    """Set when ``workload`` is ``None``."""
    flows: int
    """Connections (client address and port) seen, from either end."""
    hits: int
    drops: int
    """Connections of those dropped by a policy (at either end)."""
    dropped_hits: int
    ports: list[str]
    """``port/PROTOCOL`` of the pod (or Service) they reached."""
    via: list[str]
    """``pod`` and/or ``service:<namespace>/<name>``."""
    last_seen: str


class ImpactReport(msgspec.Struct, kw_only=True):
    """``GET /api/pods/failed/{id}/impact`` (the gateway adds the failure's id and window)."""

    namespace: str
    pod_name: str
    since: str
    until: str
    pod_ips: list[str] = []
    services: list[str] = []
    """``namespace/name`` of the Services selecting the pod."""
    callers: list[Caller] = []
    flows: int = 0
