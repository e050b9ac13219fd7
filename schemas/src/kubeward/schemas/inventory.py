"""kguardian's pod and service inventory: what the controller posts and what readers get.

Wire bodies are exactly kguardian's broker types (``broker/src/types.rs``): ``PodDetail``
(``POST /pod/spec``), ``SvcDetail`` (``POST /svc/spec``), the mark-dead request
(``POST /pod/mark_dead``) and ``PodInputSyscalls`` (``POST /pod/syscalls``, an array).
Fields the broker declares as ``Option`` accept ``null`` or absence; the others are
required and typed as serde requires them, so what the broker refuses is refused here.
Free-form JSON (``pod_obj``, ``service_spec``, ``workload_selector_labels``, ``pod_ips``)
is kept as any JSON value.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

CAPTURE_LEVELS = frozenset({"full", "high", "medium", "low", "custom"})
"""The controller's syscall capture tiers; any other value is stored as ``null``."""

InventoryKind = Literal["pod-spec", "svc-spec", "pod-dead", "pod-syscalls"]


class PodDetail(msgspec.Struct, kw_only=True):
    """One pod, as ``POST /pod/spec`` takes it and ``/pod/info`` & co. return it.

    Field order is the broker's (its JSON answers follow the struct's order).
    ``time_stamp`` and ``started_at`` are naive UTC; after ingest they are in
    :data:`~kubeward.schemas.traffic.TIMESTAMP_FORMAT`.
    """

    pod_name: str
    pod_ip: str
    pod_namespace: str | None = None
    pod_obj: Any = None
    time_stamp: str
    node_name: str
    is_dead: bool
    pod_identity: str | None = None
    workload_selector_labels: Any = None
    pod_ips: Any = None
    workload_kind: str | None = None
    workload_name: str | None = None
    capture_level: str | None = None
    host_network: bool | None = None
    started_at: str | None = None


class SvcDetail(msgspec.Struct, kw_only=True):
    """One Service (keyed by its cluster IP), as ``POST /svc/spec`` takes it."""

    svc_ip: str
    svc_name: str | None = None
    svc_namespace: str | None = None
    service_spec: Any = None
    time_stamp: str


class MarkDead(msgspec.Struct, kw_only=True):
    """``POST /pod/mark_dead``: the pod, and (newer controllers) the IP it must still hold."""

    pod_name: str
    pod_ip: str | None = None


class PodSyscalls(msgspec.Struct, kw_only=True):
    """One entry of ``POST /pod/syscalls`` (``PodInputSyscalls``)."""

    pod_name: str
    pod_namespace: str
    syscalls: list[str]
    arch: str
    time_stamp: str


class PodSyscallsRow(msgspec.Struct, kw_only=True):
    """A stored syscall row as ``GET /pod/syscalls/{name}`` returns it: the names joined
    with commas, as the broker stores them."""

    pod_name: str
    pod_namespace: str
    syscalls: str
    arch: str
    time_stamp: str


class InventoryGroup(msgspec.Struct, array_like=True):
    """Valid records of one collect message, for traffic-store."""

    origin_seq: int
    origin_us: int
    """The collect message's stream time (Unix µs): mark-dead has no time of its own."""
    reply_to: str | None
    kind: InventoryKind
    records: list[bytes]
    """Each record as normalised JSON of its wire type."""


class InventoryBatch(msgspec.Struct, array_like=True):
    """What ingest publishes on ``kubeward.traffic.inventory`` (msgpack)."""

    groups: list[InventoryGroup]


InventoryLookup = Literal[
    "pods",
    "services",
    "pod-by-name",
    "pod-by-ip",
    "svc-by-ip",
    "pods-on-node",
    "syscalls",
]


class InventoryQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A read of the inventory (``kubeward.rpc.traffic-store.inventory``)."""

    lookup: InventoryLookup
    key: str = ""
    """The pod name, IP or node name the lookup is about."""
    at: str | None = None
    """``pod-by-ip`` only: the pod that held the IP at this time (normalised naive UTC)."""


def chrono_time(stored: str) -> str:
    """A stored ``%Y-%m-%dT%H:%M:%S.%f`` time as chrono prints a ``NaiveDateTime``: no
    fraction when it is zero, else 3 or 6 digits (the broker's answers)."""
    head, _, fraction = stored.partition(".")
    if not fraction.strip("0"):
        return head
    if fraction.endswith("000"):
        return f"{head}.{fraction[:3]}"
    return stored
