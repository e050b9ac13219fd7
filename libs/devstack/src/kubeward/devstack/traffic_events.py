"""Realistic kguardian pod-traffic events, generated from a seed: the factory ``bench.ingest``,
``bench.faults`` and tests share.

600 pods in 8 namespaces talk TCP and UDP to each other, to DNS and to a few outside
addresses; 5 % of flows are DROPs. A share of the events re-sight a flow generated before
(picked uniformly among the flows so far), a UDP client with a new ephemeral port, which
traffic-store folds into the same flow. Events come as JSON arrays of ``batch``, as the
kguardian controller sends them.

Typical use::

    workload = generate(10_000, batch=100, duplicate_share=0.3)
    workload.messages[0]  # one collect message
    workload.distinct  # the flows traffic-store must end up holding
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from kubeward.schemas.traffic import TIMESTAMP_FORMAT, PodTrafficEvent

EPHEMERAL_PORT_MIN = 32768
"""traffic-store's default ``EPHEMERAL_PORT_MIN``: UDP client ports from here on are folded."""

_APPS = (
    "checkout",
    "cart",
    "catalog",
    "payments",
    "auth",
    "search",
    "orders",
    "shipping",
    "recommend",
    "email",
    "frontend",
    "gateway",
    "inventory",
    "reviews",
    "pricing",
    "ledger",
    "notifier",
    "reports",
    "metrics",
    "ingester",
)
_NAMESPACES = ("shop", "payments", "platform", "data", "edge", "monitoring", "default", "batch")
_TCP_SERVICE_PORTS = (80, 443, 8080, 8443, 9090, 5432, 6379, 27017, 9092, 3306, 50051, 8000)
_UDP_SERVICE_PORTS = (53, 8125, 514, 123, 4789, 6831)
_EXTERNAL_IPS = tuple(f"52.{a}.{b}.{c}" for a in (1, 20, 84) for b in (3, 97) for c in (7, 140))
_DNS_IP = "10.96.0.10"
_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Pod:
    """A pod that appears in the traffic."""

    name: str
    namespace: str
    ip: str
    tcp_port: int
    udp_port: int


@dataclass
class Workload:
    """The generated events, already encoded as collect messages, and their statistics."""

    messages: list[bytes]
    events: int
    distinct: int
    batch: int
    tcp: int = 0
    udp: int = 0
    ingress: int = 0
    egress: int = 0
    drops: int = 0
    flows: list[PodTrafficEvent] = field(default_factory=list)
    """The first event of every distinct flow (to shape the raw MongoDB documents)."""

    @property
    def duplicates(self) -> int:
        """Events that re-sight a flow generated earlier."""
        return self.events - self.distinct

    @property
    def payload_bytes(self) -> int:
        """Bytes of every collect message together."""
        return sum(len(m) for m in self.messages)


def folded_key(event: PodTrafficEvent) -> tuple[str, ...]:
    """The seven-field dedup key with UDP ephemeral client ports folded, as traffic-store has it.

    Kept here rather than imported so the benchmark checks the service against the
    documented rule instead of against itself.
    """
    pod_port, peer_port = event.pod_port, event.traffic_in_out_port
    if event.ip_protocol == "UDP":
        if event.traffic_type == "INGRESS":
            if int(peer_port) >= EPHEMERAL_PORT_MIN:
                peer_port = "*"
        elif int(pod_port) >= EPHEMERAL_PORT_MIN:
            pod_port = "*"
    return (
        event.pod_ip,
        pod_port,
        event.traffic_type,
        event.traffic_in_out_ip,
        peer_port,
        event.ip_protocol,
        event.decision or "ALLOW",
    )


def _pods(rng: random.Random, count: int) -> list[Pod]:
    pods = []
    for index in range(count):
        app = _APPS[index % len(_APPS)]
        rs = "".join(rng.choice(_ALPHANUM) for _ in range(10))
        suffix = "".join(rng.choice(_ALPHANUM) for _ in range(5))
        pods.append(
            Pod(
                name=f"{app}-{rs}-{suffix}",
                namespace=_NAMESPACES[index % len(_NAMESPACES)],
                ip=f"10.244.{index // 250}.{index % 250 + 2}",
                tcp_port=rng.choice(_TCP_SERVICE_PORTS),
                udp_port=rng.choice(_UDP_SERVICE_PORTS),
            )
        )
    return pods


def _ephemeral(rng: random.Random) -> str:
    return str(rng.randint(EPHEMERAL_PORT_MIN, 60999))


def _new_flow(rng: random.Random, pods: list[Pod]) -> PodTrafficEvent:
    """A flow template (uuid and time_stamp are filled in per sighting)."""
    pod = rng.choice(pods)
    peer = rng.choice(pods)
    udp = rng.random() < 0.2
    ingress = rng.random() < 0.5
    decision = "DROP" if rng.random() < 0.05 else "ALLOW"
    if udp and ingress:  # a client's datagram to the pod's UDP service
        pod_port, peer_ip, peer_port = str(pod.udp_port), peer.ip, _ephemeral(rng)
    elif udp:  # the pod asks DNS, statsd, a tracing agent ...
        pod_port = _ephemeral(rng)
        if rng.random() < 0.5:
            peer_ip, peer_port = _DNS_IP, "53"
        else:
            peer_ip, peer_port = peer.ip, str(rng.choice(_UDP_SERVICE_PORTS))
    elif ingress:  # a TCP connection to the pod's service port from a client port
        pod_port, peer_ip, peer_port = str(pod.tcp_port), peer.ip, _ephemeral(rng)
    else:  # the pod connects out, to another pod or the internet
        pod_port = _ephemeral(rng)
        peer_ip = rng.choice(_EXTERNAL_IPS) if rng.random() < 0.2 else peer.ip
        peer_port = str(rng.choice(_TCP_SERVICE_PORTS))
    return PodTrafficEvent(
        pod_name=pod.name,
        pod_namespace=pod.namespace,
        pod_ip=pod.ip,
        pod_port=pod_port,
        ip_protocol="UDP" if udp else "TCP",
        traffic_type="INGRESS" if ingress else "EGRESS",
        traffic_in_out_ip=peer_ip,
        traffic_in_out_port=peer_port,
        decision=decision,
        time_stamp="",
    )


def _resighting(rng: random.Random, flow: PodTrafficEvent) -> PodTrafficEvent:
    """The same flow seen again; a UDP client picks a new ephemeral port (folded by the store)."""
    event = msgspec.structs.replace(flow)
    if event.ip_protocol == "UDP":
        if event.traffic_type == "INGRESS":
            event.traffic_in_out_port = _ephemeral(rng)
        else:
            event.pod_port = _ephemeral(rng)
    return event


def generate(events: int, batch: int, duplicate_share: float = 0.3, seed: int = 7) -> Workload:
    """``events`` kguardian events in JSON arrays of ``batch``; ~``duplicate_share`` repeat."""
    rng = random.Random(seed)
    pods = _pods(rng, 600)
    seen: set[tuple[str, ...]] = set()
    flows: list[PodTrafficEvent] = []
    out: list[PodTrafficEvent] = []
    start = datetime(2025, 6, 1, 12, 0, 0)
    workload = Workload(messages=[], events=events, distinct=0, batch=batch)
    for index in range(events):
        if flows and rng.random() < duplicate_share:
            event = _resighting(rng, rng.choice(flows))
        else:
            for _attempt in range(20):
                event = _new_flow(rng, pods)
                key = folded_key(event)
                if key not in seen:
                    break
            if key not in seen:
                seen.add(key)
                flows.append(event)
                event = msgspec.structs.replace(event)
        event.uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        moment = start + timedelta(microseconds=index * 250 + rng.randrange(250))
        event.time_stamp = moment.strftime(TIMESTAMP_FORMAT)
        if event.ip_protocol == "TCP":
            workload.tcp += 1
        else:
            workload.udp += 1
        if event.traffic_type == "INGRESS":
            workload.ingress += 1
        else:
            workload.egress += 1
        workload.drops += event.decision == "DROP"
        out.append(event)
    for first in range(0, events, batch):
        workload.messages.append(msgspec.json.encode(out[first : first + batch]))
    workload.distinct = len(flows)
    # The stored first sighting of each flow carries its uuid and time stamp.
    first_of: dict[tuple[str, ...], PodTrafficEvent] = {}
    for event in out:
        first_of.setdefault(folded_key(event), event)
    workload.flows = list(first_of.values())
    assert len(workload.flows) == workload.distinct
    return workload
