"""Flow identity: which events are the same flow, and how a batch folds into flows."""

from __future__ import annotations

import hashlib

from kubeward.schemas.traffic import PodTrafficEvent, PodTrafficGroup

EPHEMERAL = "*"
_SEPARATORS = 6


def _folds(port: str, ephemeral_port_min: int) -> bool:
    """Whether ``port`` is a port number in the ephemeral range.

    Ports are stored canonical when they are numbers; any other string (``"http"``,
    ``"70000"``) is a value kept as given and never folded.
    """
    return port.isascii() and port.isdigit() and ephemeral_port_min <= int(port) <= 65535


def flow_key(event: PodTrafficEvent, ephemeral_port_min: int) -> str:
    """The dedup key over the seven fields kguardian names.

    For UDP the client side's port is ephemeral (every datagram exchange may use a new
    one), so a port at or above ``ephemeral_port_min`` on that side is folded to ``*``:
    the peer port for ingress, the pod's own port for egress (neither for a
    ``traffic_type`` kubeward does not know).
    """
    pod_port = event.pod_port
    peer_port = event.traffic_in_out_port
    if event.ip_protocol == "UDP":
        if event.traffic_type == "INGRESS":
            if _folds(peer_port, ephemeral_port_min):
                peer_port = EPHEMERAL
        elif event.traffic_type == "EGRESS" and _folds(pod_port, ephemeral_port_min):
            pod_port = EPHEMERAL
    key = (
        f"{event.pod_ip}|{pod_port}|{event.traffic_type}|{event.traffic_in_out_ip}|"
        f"{peer_port}|{event.ip_protocol}|{event.decision}"
    )
    # Values are stored as given when they do not parse, so one may hold the separator, a
    # backslash or a literal "*" port; such keys are escaped (and then hold a backslash,
    # which no plain key does), so distinct flows never share a key. Keys of everything
    # else are the plain join, as they always were.
    if (
        key.count("|") != _SEPARATORS
        or "\\" in key
        or EPHEMERAL in (event.pod_port, event.traffic_in_out_port)
    ):
        return _escaped_key(event, pod_port, peer_port)
    return key


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def _escape_port(given: str, keyed: str) -> str:
    if keyed != given:
        return EPHEMERAL  # folded (only a number folds, so a given "*" never does)
    return "\\*" if given == EPHEMERAL else _escape(given)


def _escaped_key(event: PodTrafficEvent, pod_port: str, peer_port: str) -> str:
    parts = (
        _escape(event.pod_ip),
        _escape_port(event.pod_port, pod_port),
        _escape(event.traffic_type),
        _escape(event.traffic_in_out_ip),
        _escape_port(event.traffic_in_out_port, peer_port),
        _escape(event.ip_protocol),
        _escape(event.decision or ""),
    )
    return "|".join(parts)


def announcement_id(seq: int, key: str) -> str:
    """The ``Nats-Msg-Id`` of a new flow's feed event: the sequence that created it and its key.

    A key holding values kept as given may hold what a NATS header cannot carry (line
    breaks, non-ASCII); its digest stands in then, under a prefix no plain id has.
    """
    if key.isascii() and key.isprintable():
        return f"pod-traffic-{seq}-{key}"
    return f"pod-traffic-h-{seq}-{hashlib.blake2b(key.encode()).hexdigest()}"


class Flow:
    """What one batch contributes to one flow."""

    __slots__ = ("first", "first_seen", "group", "hits", "last_seen")

    def __init__(self, event: PodTrafficEvent, group: int) -> None:
        self.first = event
        self.group = group
        self.hits = 1
        self.first_seen = event.time_stamp
        self.last_seen = event.time_stamp

    def copy(self) -> Flow:
        """An independent copy (to merge others into)."""
        twin = Flow(self.first, self.group)
        twin.hits, twin.first_seen, twin.last_seen = self.hits, self.first_seen, self.last_seen
        return twin

    def absorb(self, other: Flow) -> None:
        """Add another batch's sightings of the same flow."""
        self.hits += other.hits
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)

    def add(self, event: PodTrafficEvent) -> None:
        """Count another sighting of the flow."""
        self.hits += 1
        ts = event.time_stamp
        if ts < self.first_seen:
            self.first_seen = ts
        elif ts > self.last_seen:
            self.last_seen = ts


def fold(groups: list[PodTrafficGroup], ephemeral_port_min: int) -> dict[str, Flow]:
    """Fold every event of ``groups`` into flows; a flow belongs to the first group seeing it."""
    flows: dict[str, Flow] = {}
    for index, group in enumerate(groups):
        for event in group.events:
            key = flow_key(event, ephemeral_port_min)
            flow = flows.get(key)
            if flow is None:
                flows[key] = Flow(event, index)
            else:
                flow.add(event)
    return flows
