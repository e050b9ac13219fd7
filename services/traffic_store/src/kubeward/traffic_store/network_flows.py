"""Reads ALLOW flows and resolves both ends through the kguardian inventory.

Every read is an indexed lookup or a bounded range: a namespace's flows on
``(pod_namespace, time_stamp, uuid)``, a pod's on ``(pod_name, time_stamp, uuid)``, a
namespace's pods on ``pod_details.pod_namespace``, an IP's holders on
``pod_ip_history.(ip, until)``, pods and Services by ``_id``; nothing is sorted in the
database. Lookups are cached for the request, so the inventory is read once per peer.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.schemas.traffic import TIMESTAMP_FORMAT
from kubeward.traffic_store.inventory import IP_HISTORY, OPEN, PODS, SERVICES
from kubeward.traffic_store.network_model import Peer, ResolvedFlow, Workload, common_labels
from kubeward.traffic_store.pod_traffic import COLLECTION

_POD_FIELDS = {"pod_obj": 1, "pod_namespace": 1, "workload_kind": 1, "workload_name": 1}
_OWNED_KINDS = {"StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Deployment"}
_DNS_PORT = 53
_LOWEST = "0"
"""Below every stored time. SecantusDB's ``$gte: ""`` matches nothing, and its ``$gte`` on
the range field of an (equality, range) index acts as ``$gt``: lower bounds here are
never a real time."""


class _Pod(msgspec.Struct, frozen=True):
    name: str
    workload: Workload
    labels: dict[str, str]


class _Service(msgspec.Struct, frozen=True):
    workload: Workload
    selector: dict[str, str]
    ports: list[dict[str, Any]]
    backend: Workload | None = None
    """The one workload whose pods the selector picks (``None``: none, or several)."""
    backend_labels: dict[str, str] = msgspec.field(default_factory=dict)
    """The labels all of the backend's pods carry."""


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None


def _labels(obj: Any) -> dict[str, str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


def pod_workload(doc: Document, namespace: str) -> Workload:
    """The workload a stored pod belongs to: the controller's ``workload_kind``/``_name``,
    else its owner (a ReplicaSet stands for its Deployment), else the pod itself."""
    kind, name = doc.get("workload_kind"), doc.get("workload_name")
    if kind and name:
        return Workload(namespace, str(kind), str(name))
    obj = _json(doc.get("pod_obj"))
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    owners = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for owner in owners if isinstance(owners, list) else []:
        if not isinstance(owner, dict) or owner.get("kind") not in _OWNED_KINDS:
            continue
        owner_name = str(owner.get("name", ""))
        if owner.get("kind") == "ReplicaSet":
            suffix = "-" + _labels(obj).get("pod-template-hash", "\0")
            if owner_name.endswith(suffix):
                return Workload(namespace, "Deployment", owner_name[: -len(suffix)])
        return Workload(namespace, str(owner["kind"]), owner_name)
    return Workload(namespace, "Pod", str(doc["_id"]))


def _port(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 65535 else None


def _within(first: str, last: str, since: str | None, until: str | None) -> tuple[str, str]:
    """The first and last sighting of a flow clamped to the window ``[since, until)``."""
    if since is not None and first < since <= last:
        first = since
    if until is not None and last >= until > first:
        before = datetime.strptime(until, TIMESTAMP_FORMAT) - timedelta(microseconds=1)
        last = before.strftime(TIMESTAMP_FORMAT)
    return first, last


@lru_cache(maxsize=4096)
def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class FlowReader:
    """One request's reads of flows and inventory, with its lookups cached."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._flows: AsyncCollection[Document] = db[COLLECTION]
        self._pods: AsyncCollection[Document] = db[PODS]
        self._history: AsyncCollection[Document] = db[IP_HISTORY]
        self._services: AsyncCollection[Document] = db[SERVICES]
        self._pod_cache: dict[str, _Pod | None] = {}
        self._svc_cache: dict[str, _Service | None] = {}
        self._ip_cache: dict[str, list[tuple[str, str, str]]] = {}
        self._namespace_cache: dict[str, list[_Pod]] = {}

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
        """A namespace's pods and Services: the reads of the inventory by namespace."""
        await db[PODS].create_index([("pod_namespace", ASCENDING)])
        await db[SERVICES].create_index([("svc_namespace", ASCENDING)])

    # --- flows ------------------------------------------------------------------

    async def namespace_flows(
        self, namespace: str, since: str | None, until: str | None
    ) -> list[ResolvedFlow]:
        """Resolved ALLOW flows observed by the pods of ``namespace`` in the window."""
        return await self._read({"pod_namespace": namespace}, since, until)

    async def workload_flows(
        self, workload: Workload, since: str | None, until: str | None
    ) -> list[ResolvedFlow]:
        """Resolved ALLOW flows observed by the pods of one workload (read pod by pod)."""
        names = {workload.name} if workload.kind == "Pod" else set()
        for pod in await self._namespace_pods(workload.namespace):
            if pod.workload == workload:
                names.add(pod.name)
        flows: list[ResolvedFlow] = []
        for name in sorted(names):
            flows += await self._read({"pod_name": name}, since, until)
        return [f for f in flows if f.workload == workload]

    async def _read(
        self, key: dict[str, str], since: str | None, until: str | None
    ) -> list[ResolvedFlow]:
        # The index's range is on the first sighting; a flow first seen before ``since``
        # may still have been seen in the window, so that bound is checked on last_seen.
        window = {"time_stamp": {"$gt": _LOWEST, "$lt": until or OPEN}}
        flows: list[ResolvedFlow] = []
        # Whole documents: on SecantusDB a projection made this read 1.6x slower.
        async for doc in self._flows.find(key | window):
            if doc.get("decision") != "ALLOW":
                continue
            last_seen = str(doc.get("last_seen") or doc["time_stamp"])
            if since is not None and last_seen < since:
                continue
            flows += await self.resolve(doc, since, until)
        return flows

    async def resolve(
        self, doc: Document, since: str | None = None, until: str | None = None
    ) -> list[ResolvedFlow]:
        """A stored flow with its ends resolved: one per distinct peer at its first and last
        sighting within the window (an IP that passed from pod to pod in between gives two);
        none for loopback traffic or a direction kubeward does not know."""
        direction = doc.get("traffic_type")
        namespace = doc.get("pod_namespace")
        peer_ip = str(doc.get("traffic_in_out_ip", ""))
        if direction not in ("INGRESS", "EGRESS") or not namespace or _loopback(peer_ip):
            return []
        subject = await self._pod(str(doc["pod_name"]))
        if subject is not None and subject.workload.namespace != namespace:
            subject = None  # the inventory keys pods by name: that one is another namespace's
        workload = subject.workload if subject else Workload(namespace, "Pod", doc["pod_name"])
        first = str(doc.get("first_seen") or doc["time_stamp"])
        last = str(doc.get("last_seen") or first)
        observed = str(doc["pod_port"] if direction == "INGRESS" else doc["traffic_in_out_port"])
        protocol = str(doc.get("ip_protocol", ""))
        flows: list[ResolvedFlow] = []
        seen: list[Peer] = []
        for at in dict.fromkeys(_within(first, last, since, until)):
            peer, port = await self._peer(peer_ip, at, observed, protocol, direction)
            if peer in seen:
                continue
            seen.append(peer)
            flows.append(
                ResolvedFlow(
                    flow_id=str(doc["_id"]),
                    pod_name=str(doc["pod_name"]),
                    pod_namespace=namespace,
                    workload=workload,
                    labels=subject.labels if subject else {},
                    traffic_type=direction,
                    protocol=protocol,
                    port=port,
                    port_name=port if isinstance(port, str) else None,
                    peer=peer,
                    hits=int(doc.get("hits") or 1),
                    last_seen=last,
                    observed_port=observed,
                )
            )
        return flows

    # --- inventory --------------------------------------------------------------

    async def pods_of(self, workload: Workload) -> list[str]:
        """Names of the pods the inventory knows of ``workload`` (a lone pod: itself)."""
        if workload.kind == "Pod":
            return [workload.name]
        pods = await self._namespace_pods(workload.namespace)
        return sorted(pod.name for pod in pods if pod.workload == workload)

    async def pod_labels(self, name: str) -> dict[str, str]:
        """The labels of a pod the inventory knows (empty when it does not)."""
        pod = await self._pod(name)
        return dict(pod.labels) if pod else {}

    async def service_ref(self, ip: str) -> str | None:
        """``namespace/name`` of the Service whose cluster IP ``ip`` is, if any."""
        service = await self._service(ip)
        return f"{service.workload.namespace}/{service.workload.name}" if service else None

    async def _peer(
        self, ip: str, at: str, observed: str, protocol: str, direction: str
    ) -> tuple[Peer, int | str | None]:
        port: int | str | None = _port(observed)
        service = await self._service(ip)
        if service is not None:
            if direction == "EGRESS":
                port = _target_port(service.ports, observed, protocol)
            if not service.selector:
                note = f"Service {service.workload.ref()} has no selector"
                return Peer(ip=ip, note=note), port
            dns = _port(observed) == _DNS_PORT and (
                service.workload.name == "kube-dns" or service.selector.get("k8s-app") == "kube-dns"
            )
            if service.backend is not None:  # the pods behind it, as a direct call names them
                return Peer(
                    ip=ip, workload=service.backend, labels=service.backend_labels, dns=dns
                ), port
            return Peer(ip=ip, workload=service.workload, labels=service.selector, dns=dns), port
        pod = await self._holder(ip, at)
        if pod is None:
            return Peer(
                ip=ip, note="no pod or Service held this address (outside the cluster?)"
            ), port
        dns = port == _DNS_PORT and pod.labels.get("k8s-app") == "kube-dns"
        return Peer(ip=ip, workload=pod.workload, labels=pod.labels, dns=dns), port

    async def _service(self, ip: str) -> _Service | None:
        if ip not in self._svc_cache:
            doc = await self._services.find_one({"_id": ip})
            service = _service_of(doc) if doc else None
            if service is not None and service.selector:
                service = await self._with_backend(service)
            self._svc_cache[ip] = service
        return self._svc_cache[ip]

    async def _with_backend(self, service: _Service) -> _Service:
        """``service`` with the workload behind it, when its selector picks one workload's
        pods (of those the inventory knows in its namespace)."""
        picked = [
            pod
            for pod in await self._namespace_pods(service.workload.namespace)
            if all(pod.labels.get(k) == v for k, v in service.selector.items())
        ]
        workloads = {pod.workload for pod in picked}
        if len(workloads) != 1:
            return service
        return msgspec.structs.replace(
            service,
            backend=workloads.pop(),
            backend_labels=common_labels([pod.labels for pod in picked]),
        )

    async def _namespace_pods(self, namespace: str) -> list[_Pod]:
        if namespace not in self._namespace_cache:
            pods = []
            async for doc in self._pods.find({"pod_namespace": namespace}, _POD_FIELDS):
                pod = self.remember(str(doc["_id"]), doc)
                if pod is not None:
                    pods.append(pod)
            self._namespace_cache[namespace] = pods
        return self._namespace_cache[namespace]

    async def _holder(self, ip: str, at: str) -> _Pod | None:
        intervals = self._ip_cache.get(ip)
        if intervals is None:
            found = self._history.find(
                {"ip": ip, "until": {"$gt": _LOWEST, "$lte": OPEN}},
                {"from": 1, "until": 1, "pod_name": 1},
            )
            intervals = [(d["from"], d["until"], d["pod_name"]) async for d in found]
            self._ip_cache[ip] = intervals
        for begun, ended, name in intervals:
            if begun <= at < ended:
                return await self._pod(name)
        return None

    async def _pod(self, name: str) -> _Pod | None:
        if name not in self._pod_cache:
            doc = await self._pods.find_one({"_id": name}, _POD_FIELDS)
            self._pod_cache[name] = None
            if doc is not None:
                self.remember(name, doc)
        return self._pod_cache[name]

    def remember(self, name: str, doc: Document | None) -> _Pod | None:
        """Keep what a read elsewhere found of pod ``name`` (``None``: not in the
        inventory) for this reader's look-ups."""
        if doc is None:
            self._pod_cache[name] = None
            return None
        namespace = doc.get("pod_namespace")
        if not namespace:
            self._pod_cache[doc["_id"]] = None
            return None
        labels = _labels(_json(doc.get("pod_obj")))
        pod = _Pod(str(doc["_id"]), pod_workload(doc, namespace), labels)
        self._pod_cache[pod.name] = pod
        return pod


def _service_of(doc: Document) -> _Service | None:
    obj = _json(doc.get("service_spec"))
    spec = obj.get("spec", obj) if isinstance(obj, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    selector = spec.get("selector")
    ports = spec.get("ports")
    namespace = doc.get("svc_namespace") or ""
    return _Service(
        workload=Workload(namespace, "Service", str(doc.get("svc_name") or doc["_id"])),
        selector={str(k): str(v) for k, v in selector.items()}
        if isinstance(selector, dict)
        else {},
        ports=[p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else [],
    )


def _target_port(ports: list[dict[str, Any]], observed: str, protocol: str) -> int | str | None:
    """What a Service forwards ``observed`` to: its ``targetPort`` (number or the container
    port's name), the port itself when the Service does not say."""
    number = _port(observed)
    for entry in ports:
        if _port(entry.get("port")) == number and str(entry.get("protocol") or "TCP") == protocol:
            target = entry.get("targetPort")
            if target is None:
                return number
            return _port(target) or str(target)
    return number
