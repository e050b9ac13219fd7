"""kguardian's inventory input in ingest: pod specs, service specs, dead pods, syscalls.

Each subject gets a router; all forward to ``kubeward.traffic.inventory``. A record is
refused only where kguardian's broker refuses it (its serde types: a missing required
field, a wrong JSON type, a time that is not a time); everything else is normalised the
way the broker normalises it before storing (``broker/src/add.rs``): IPs canonical, the
pod's address list with the primary first, the capture tier or ``null``, ``hostNetwork``
and the start time read from the manifest, and the manifests slimmed to what readers use.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, origin_us, parse_records
from kubeward.schemas import bus
from kubeward.schemas.inventory import (
    CAPTURE_LEVELS,
    InventoryBatch,
    InventoryGroup,
    InventoryKind,
    MarkDead,
    PodDetail,
    PodSyscalls,
    SvcDetail,
)
from kubeward.schemas.traffic import normalise_timestamp

S = TypeVar("S", bound=msgspec.Struct)


def canonical_ip(value: str) -> str:
    """An IP in canonical form (IPv6 compressed, lower case); anything else as given."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


def _time(field: str, value: str) -> str:
    try:
        return normalise_timestamp(value.strip())
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a date-time") from None


def _pod_ips(posted: Any, primary: str) -> list[str]:
    out = [primary] if primary.strip() else []
    if isinstance(posted, list):
        for item in posted:
            if isinstance(item, str) and item.strip():
                ip = canonical_ip(item.strip())
                if ip not in out:
                    out.append(ip)
    return out


def compact_pod_obj(obj: Any) -> Any:
    """Keep what readers use: metadata without ``managedFields`` and ``spec.hostNetwork``."""
    if not isinstance(obj, dict):
        return obj
    spec = obj.get("spec")
    host_network = spec.get("hostNetwork") if isinstance(spec, dict) else None
    out = {k: v for k, v in obj.items() if k not in ("spec", "status")}
    if host_network is not None:
        out["spec"] = {"hostNetwork": host_network}
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def compact_svc_spec(obj: Any) -> Any:
    """Drop ``status`` and ``metadata.managedFields`` (readers use spec and metadata)."""
    if not isinstance(obj, dict):
        return obj
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def normalise_pod(pod: PodDetail) -> PodDetail:
    """The record as the broker stores it; ``ValueError`` for a time that is not one."""
    pod.time_stamp = _time("time_stamp", pod.time_stamp)
    if pod.started_at is not None:
        pod.started_at = _time("started_at", pod.started_at)
    obj = pod.pod_obj if isinstance(pod.pod_obj, dict) else None
    if pod.started_at is None and obj is not None:
        start = (obj.get("status") or {}).get("startTime")
        if isinstance(start, str):
            with contextlib.suppress(ValueError):  # the broker leaves it unset too
                pod.started_at = normalise_timestamp(start.replace("Z", "+00:00"))
    if pod.host_network is None and obj is not None:
        spec = obj.get("spec")
        flag = spec.get("hostNetwork") if isinstance(spec, dict) else None
        pod.host_network = flag if isinstance(flag, bool) else False
    pod.pod_obj = compact_pod_obj(pod.pod_obj)
    pod.pod_ip = canonical_ip(pod.pod_ip)
    pod.pod_ips = _pod_ips(pod.pod_ips, pod.pod_ip)
    if pod.capture_level is not None:
        level = pod.capture_level.strip().lower()
        pod.capture_level = level if level in CAPTURE_LEVELS else None
    return pod


def normalise_svc(svc: SvcDetail) -> SvcDetail:
    """Canonical cluster IP, slimmed manifest, normalised time."""
    svc.time_stamp = _time("time_stamp", svc.time_stamp)
    svc.service_spec = compact_svc_spec(svc.service_spec)
    if svc.svc_ip and svc.svc_ip != "None":
        svc.svc_ip = canonical_ip(svc.svc_ip)
    return svc


def normalise_dead(dead: MarkDead) -> MarkDead:
    """Trimmed name; an empty IP is no IP; the IP canonical."""
    dead.pod_name = dead.pod_name.strip()
    ip = (dead.pod_ip or "").strip()
    dead.pod_ip = canonical_ip(ip) if ip else None
    return dead


def normalise_syscalls(entry: PodSyscalls) -> PodSyscalls:
    """Normalised time."""
    entry.time_stamp = _time("time_stamp", entry.time_stamp)
    return entry


def _decoder(
    struct: type[S], normalise: Callable[[S], S]
) -> Callable[[bytes | msgspec.Raw], bytes]:
    decoder = msgspec.json.Decoder(struct)

    def decode_one(data: bytes | msgspec.Raw) -> bytes:
        try:
            record = normalise(decoder.decode(data))
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc).replace("`$.", "`").replace("`$`", "body")) from None
        return msgspec.json.encode(record)

    return decode_one


_FORMS: dict[str, tuple[type[Any], Callable[[Any], Any]]] = {
    "pod-spec": (PodDetail, normalise_pod),
    "svc-spec": (SvcDetail, normalise_svc),
    "pod-dead": (MarkDead, normalise_dead),
    "pod-syscalls": (PodSyscalls, normalise_syscalls),
}
"""Each inventory kind's record type and normalisation."""
_DECODERS: dict[str, Callable[[bytes | msgspec.Raw], bytes]] = {
    kind: _decoder(struct, normalise) for kind, (struct, normalise) in _FORMS.items()
}


class InventoryRouter(CollectRouter[bytes, InventoryGroup]):
    """Batch handler for one inventory collect subject."""

    subject = bus.TRAFFIC_INVENTORY
    inventory_kind: ClassVar[InventoryKind]

    def __init__(self, nc: NATS, js: JetStreamContext, max_records: int) -> None:
        super().__init__(nc, js, max_records)
        self.payload = _FORMS[self.inventory_kind][0]

    def parse(self, msg: Msg) -> tuple[list[bytes], list[Reject]]:
        """One record or a JSON array of them."""
        return parse_records(msg.data, _DECODERS[self.inventory_kind])

    def group(self, msg: Msg, reply_to: str | None, records: list[bytes]) -> InventoryGroup:
        """Records keep their collect sequence and time (mark-dead's time)."""
        return InventoryGroup(
            origin_seq=stream_seq(msg),
            origin_us=origin_us(msg),
            reply_to=reply_to,
            kind=self.inventory_kind,
            records=records,
        )

    def batch(self, groups: list[InventoryGroup]) -> InventoryBatch:
        """One ``kubeward.traffic.inventory`` message."""
        return InventoryBatch(groups=groups)

    def origin_seq(self, group: InventoryGroup) -> int:
        """The group's collect sequence."""
        return group.origin_seq


class PodSpecRouter(InventoryRouter):
    """``kubeward.collect.pod-spec``."""

    kind = "pod-spec"
    label = "pod spec"
    inventory_kind = "pod-spec"


class SvcSpecRouter(InventoryRouter):
    """``kubeward.collect.svc-spec``."""

    kind = "svc-spec"
    label = "service spec"
    inventory_kind = "svc-spec"


class PodDeadRouter(InventoryRouter):
    """``kubeward.collect.pod-dead``."""

    kind = "pod-dead"
    label = "mark-dead request"
    inventory_kind = "pod-dead"


class PodSyscallsRouter(InventoryRouter):
    """``kubeward.collect.pod-syscalls``."""

    kind = "pod-syscalls"
    label = "pod syscalls"
    inventory_kind = "pod-syscalls"
