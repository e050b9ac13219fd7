"""Traffic around a failed pod: the DROPs that may explain it, and who called it.

Both answers read flows only by indexed keys with a bounded time range: the DROPs from
their copies in ``pod_traffic_rare`` (:mod:`~kubeward.traffic_store.rare_flows`: every DROP
of the window, then the matching flows by ``_id``), callers as a pod's flows on
``(pod_name, time_stamp)`` and the flows aimed at an address on
``(traffic_in_out_ip, time_stamp)``. ``time_stamp`` is a flow's first sighting; a flow
first seen up to :data:`LOOKBACK` before the window and seen again in it is found, an
older one is not (TCP connections get a new client port, so a new flow, per attempt; only
folded UDP flows live long).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import msgspec
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.core.windows import micros, stamp, walk_down
from kubeward.schemas.network import (
    Caller,
    DroppedFlow,
    DroppedPeer,
    DropQuery,
    DropReport,
    DropReports,
    ImpactQuery,
    ImpactReport,
)
from kubeward.schemas.traffic import TIMESTAMP_FORMAT
from kubeward.traffic_store.inventory import PODS, SERVICES
from kubeward.traffic_store.network_flows import FlowReader, pod_workload
from kubeward.traffic_store.network_model import ResolvedFlow, Workload, selector_matches
from kubeward.traffic_store.network_policy import suggest
from kubeward.traffic_store.pod_traffic import COLLECTION, sightings
from kubeward.traffic_store.rare_flows import COLLECTION as RARE

LOOKBACK = timedelta(hours=1)
"""How long before a window a flow may have been first seen and still be read."""
MAX_DROP_COPIES = 500
"""The window's DROP copies one search reads in one range at most (about: the last window
may read a quarter more). Past that, a DROP storm, it reads only the copies of the failed
pod's workload and of its addresses, one indexed range each."""
STORM_RECHECK_SECONDS = 30.0
"""After a search met a DROP storm, how long the next ones read the failed pod's copies
only, without trying the window's range first."""
MAX_WORKLOAD_PODS = 50
"""Pods of the failed pod's workload whose DROPs are read (besides the pod itself)."""
MAX_PEERS = 20
MAX_EVIDENCE = 5
MAX_CALLERS = 200
_CLUSTER_SUFFIX = ".svc.cluster.local"
_NAME = re.compile(r"[^a-z0-9-]+")


def _bounds(since: str, until: str) -> dict[str, Any]:
    start = datetime.strptime(since, TIMESTAMP_FORMAT) - LOOKBACK
    return {"$gt": start.strftime(TIMESTAMP_FORMAT), "$lt": until}


def _newest(doc: Document) -> tuple[str, str]:
    return str(doc["time_stamp"]), str(doc.get("uuid", ""))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ref(workload: Workload | None, ip: str) -> str:
    return workload.ref() if workload is not None else ip


class _Window:
    """The flows of one request's window, read by pod name or by target address."""

    def __init__(self, db: AsyncDatabase[Document], since: str, until: str) -> None:
        self._flows: AsyncCollection[Document] = db[COLLECTION]
        self._rare: AsyncCollection[Document] = db[RARE]
        self.since = since
        self.until = until
        self._range = _bounds(since, until)

    def _seen(self, doc: Document) -> bool:
        return str(doc.get("last_seen") or doc["time_stamp"]) >= self.since

    async def _read(self, key: dict[str, str]) -> AsyncIterator[Document]:
        async for doc in self._flows.find(key | {"time_stamp": self._range}):
            if self._seen(doc):
                yield doc

    async def drop_rows(self, copies: DropCopies) -> list[Document] | None:
        """The rows (with their flow keys as ``_id``) of every DROP flow first seen in the
        window's range, from their copies, read newest first in windows: O(DROPs in the
        range), whatever else flows. ``None`` when the range holds more than
        ``copies.cap`` of them: reading on would cost every failure the whole storm."""

        async def fetch(lo: int, hi: int) -> list[Document]:
            window = {"$gt": stamp(lo), "$lte": stamp(hi)}
            return await self._rare.find({"time_stamp": window}).to_list()

        # ``_range`` as keys: ``$lt until`` is ``$lte`` the microsecond before it.
        top, floor = micros(self._range["$lt"]) - 1, micros(self._range["$gt"])
        walk = await walk_down(
            fetch,
            top=top,
            floor=floor,
            need=copies.cap + 1,
            order=_newest,
            density=copies.density,
            first_width=top - floor,  # unknown density: the whole range at once
        )
        if walk.density:
            copies.density = walk.density
        if walk.seen > copies.cap:
            copies.storm_met()
            return None
        return [doc for doc in walk.rows if doc.get("decision") == "DROP"]

    async def drop_rows_of(self, key: dict[str, str]) -> list[Document]:
        """The rows of the DROP flows first seen in the window's range that ``key`` (one
        equality: ``pod_name`` or ``traffic_in_out_ip``) selects, from their copies."""
        found = await self._rare.find(key | {"time_stamp": self._range}).to_list()
        return [doc for doc in found if doc.get("decision") == "DROP"]

    async def flows(self, keys: list[str]) -> dict[str, Document]:
        """The flows ``keys`` seen in the window, by key (read by ``_id``)."""
        return {
            str(doc["_id"]): doc
            async for doc in mongo.find_in(self._flows, "_id", keys)
            if self._seen(doc)
        }

    def of_pod(self, name: str) -> AsyncIterator[Document]:
        """Flows the pod observed, seen in the window."""
        return self._read({"pod_name": name})

    def to_address(self, ip: str) -> AsyncIterator[Document]:
        """Flows whose other end was ``ip``, seen in the window."""
        return self._read({"traffic_in_out_ip": ip})


class DropCopies:
    """What DROP searches learnt of the DROP copies, kept from one request to the next:
    their density (copies per microsecond of first sighting, last seen), which sizes a
    search's windows so that a DROP storm costs it about ``cap`` copies, not all; and
    whether a search met a storm in the last ``recheck`` seconds: the searches then read
    the failed pod's copies only."""

    def __init__(self, cap: int = MAX_DROP_COPIES, recheck: float = STORM_RECHECK_SECONDS) -> None:
        self.cap = cap
        self.recheck = recheck
        self.density = 0.0
        self._storm_until = 0.0

    def in_storm(self) -> bool:
        """Whether a search met more than ``cap`` copies in the last ``recheck`` seconds."""
        return time.monotonic() < self._storm_until

    def storm_met(self) -> None:
        """A search met more than ``cap`` copies in its window."""
        self._storm_until = time.monotonic() + self.recheck


class FailureTraffic:
    """Answers :class:`DropQuery` and :class:`ImpactQuery` for one request."""

    def __init__(self, db: AsyncDatabase[Document], copies: DropCopies | None = None) -> None:
        self._db = db
        self._copies = copies or DropCopies()
        self._pods: AsyncCollection[Document] = db[PODS]
        self._services: AsyncCollection[Document] = db[SERVICES]
        self._reader = FlowReader(db)
        self._docs: dict[str, Document | None] = {}
        """Inventory entries of the pods asked about, read once per request."""

    async def _subject(self, namespace: str, pod_name: str) -> tuple[Workload, list[str]]:
        """The pod's workload and its IPs (none when the inventory does not know it)."""
        if pod_name not in self._docs:
            self._docs[pod_name] = await self._pods.find_one({"_id": pod_name})
        doc = self._docs[pod_name]
        self._reader.remember(pod_name, doc)  # its labels are asked next, same request
        if doc is None or doc.get("pod_namespace") != namespace:
            return Workload(namespace, "Pod", pod_name), []
        ips = [str(ip) for ip in doc.get("pod_ips") or [] if ip]
        if not ips and doc.get("pod_ip"):
            ips = [str(doc["pod_ip"])]
        return pod_workload(doc, namespace), ips

    # --- drops ------------------------------------------------------------------

    async def drops(self, q: DropQuery) -> DropReport:
        """The DROPs around the failed pod, per peer and port, most drops first."""
        [report] = (await self.drops_many([q])).reports
        return report

    async def drops_many(self, queries: list[DropQuery]) -> DropReports:
        """:meth:`drops` for each query, and the newest sightings stored (of a DROP, of any
        flow): the spans and the pods' inventory entries are read once for all (one ``_id``
        list per :data:`~kubeward.core.mongo.IN_CHUNK` pods)."""
        names = sorted({q.pod_name for q in queries})
        # Independent reads, sent together: a report waits for this answer.
        seen, found = await asyncio.gather(sightings(self._db), self._pods_by_name(names))
        for name in names:
            self._docs[name] = found.get(name)
        reports: list[DropReport] = []
        for q in queries:
            workload, ips = await self._subject(q.namespace, q.pod_name)
            if seen.newest_drop is not None and seen.newest_drop < q.since:  # none since
                reports.append(DropReport(since=q.since, until=q.until, pod_ips=ips))
            else:
                reports.append(await self._drops(q, workload, ips, seen.rare_copied))
        return DropReports(
            reports=reports, newest_drop=seen.newest_drop, newest_flow=seen.newest_flow
        )

    async def _pods_by_name(self, names: list[str]) -> dict[str, Document]:
        return {str(doc["_id"]): doc async for doc in mongo.find_in(self._pods, "_id", names)}

    async def _drops(
        self, q: DropQuery, workload: Workload, ips: list[str], rare_copied: bool
    ) -> DropReport:
        window = _Window(self._db, q.since, q.until)
        siblings = [n for n in await self._reader.pods_of(workload) if n != q.pod_name]
        pods = [q.pod_name, *siblings[:MAX_WORKLOAD_PODS]]
        addresses = await self._addresses(q.addresses, q.namespace)
        search = _DropSearch(q.namespace, pods, ips, addresses)
        if rare_copied:
            rows = None if self._copies.in_storm() else await window.drop_rows(self._copies)
            if rows is None:  # a DROP storm: only the copies that may concern the pod
                rows = await search.copies_of(window)
            found = await search.from_copies(rows, window)
        else:  # a database written before the copies, until traffic-store's start
            found = await search.from_flows(window)
        groups: dict[tuple[Any, ...], _Group] = {}
        for doc, via in found.values():
            for flow in (await self._reader.resolve(doc, q.since, q.until))[:1]:
                if via == "peer" and flow.peer.workload != workload:
                    continue  # the address belonged to another pod then
                peer = _ref(flow.peer.workload, flow.peer.ip)
                key = (flow.workload, flow.traffic_type, peer, flow.port, flow.protocol)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(flow, via)
                group.add(doc, flow)
        peers = [await self._peer(group, workload) for group in groups.values()]
        peers.sort(key=lambda p: (-p.drops, p.destination, p.port))
        return DropReport(since=q.since, until=q.until, pod_ips=ips, peers=peers[:MAX_PEERS])

    async def _addresses(self, addresses: list[str], namespace: str) -> list[str]:
        """IPs for the logs' addresses: IPs as they are, host names through the Services
        of the inventory (``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``)."""
        ips: list[str] = []
        for address in addresses[:10]:
            host = address.strip("[]").lower()
            if _is_ip(host):
                ips.append(str(ipaddress.ip_address(host)))
                continue
            host = host.removesuffix(".").removesuffix(_CLUSTER_SUFFIX).removesuffix(".svc")
            name, _, ns = host.partition(".")
            ns = ns or namespace
            if not name or "." in ns:
                continue  # a name outside the cluster: only its IPs are known
            async for doc in self._services.find({"svc_namespace": ns}, {"svc_name": 1}):
                if doc.get("svc_name") == name:
                    ips.append(str(doc["_id"]))
        return list(dict.fromkeys(ips))

    async def _peer(self, group: _Group, failed: Workload) -> DroppedPeer:
        flow = group.flow
        egress = flow.traffic_type == "EGRESS"
        observer, other = flow.workload, flow.peer.workload
        source = _ref(observer, "") if egress else _ref(other, flow.peer.ip)
        destination = _ref(other, flow.peer.ip) if egress else _ref(observer, "")
        # The peer is the other end from the failed pod's side.
        peer = observer if group.via == "peer" else other
        peer_ip = group.docs[0].get("pod_ip", "") if group.via == "peer" else flow.peer.ip
        service = await self._reader.service_ref(flow.peer.ip) if egress else None
        evidence = sorted(group.docs, key=lambda d: str(d.get("last_seen") or ""), reverse=True)
        return DroppedPeer(
            source=source,
            destination=destination,
            peer_workload=peer.ref() if peer else None,
            peer_namespace=peer.namespace if peer else None,
            peer_kind=peer.kind if peer else None,
            peer_name=peer.name if peer else None,
            peer_ip=str(peer_ip),
            peer_service=service,
            port=str(flow.port if flow.port is not None else flow.observed_port),
            dialled_port=flow.observed_port,
            protocol=flow.protocol,
            dropped_at="egress" if egress else "ingress",
            via=group.via,
            drops=sum(int(d.get("hits") or 1) for d in group.docs),
            first_seen=min(str(d.get("first_seen") or d["time_stamp"]) for d in group.docs),
            last_seen=max(str(d.get("last_seen") or d["time_stamp"]) for d in group.docs),
            fix=_fix(group.flows, failed),
            flows=[_evidence(d) for d in evidence[:MAX_EVIDENCE]],
        )

    # --- impact -----------------------------------------------------------------

    async def _selecting(self, namespace: str, labels: dict[str, str]) -> dict[str, str]:
        """The Services of ``namespace`` selecting a pod with ``labels``: cluster IP ->
        ``namespace/name``. A pod without labels is selected by none (nothing read)."""
        services: dict[str, str] = {}
        if not labels:
            return services
        async for doc in self._services.find({"svc_namespace": namespace}):
            selector = _spec(doc.get("service_spec")).get("selector")
            picks = isinstance(selector, dict) and selector
            if picks and selector_matches({"matchLabels": selector}, labels):
                services[str(doc["_id"])] = f"{namespace}/{doc.get('svc_name') or ''}"
        return services

    async def impact(self, q: ImpactQuery) -> ImpactReport:
        """Who called the pod, directly or through a Service selecting it, in the window."""
        window = _Window(self._db, q.since, q.until)
        workload, ips = await self._subject(q.namespace, q.pod_name)
        labels = await self._reader.pod_labels(q.pod_name)
        services: dict[str, str] = {}
        services = await self._selecting(q.namespace, labels)
        connections: dict[tuple[str, str, str], _Connection] = {}

        def seen(key: tuple[str, str, str], caller: ResolvedFlow, doc: Document) -> _Connection:
            conn = connections.get(key)
            if conn is None:
                conn = connections[key] = _Connection(caller)
            conn.hits = max(conn.hits, int(doc.get("hits") or 1))
            conn.dropped = conn.dropped or doc.get("decision") == "DROP"
            conn.last_seen = max(conn.last_seen, str(doc.get("last_seen") or doc["time_stamp"]))
            return conn

        async for doc in window.of_pod(q.pod_name):
            if doc.get("traffic_type") != "INGRESS" or doc.get("pod_namespace") != q.namespace:
                continue
            for flow in (await self._reader.resolve(doc, q.since, q.until))[:1]:
                key = (flow.peer.ip, str(doc.get("traffic_in_out_port")), flow.protocol)
                conn = seen(key, flow, doc)
                conn.ports.add(f"{doc.get('pod_port')}/{flow.protocol}")
                conn.via.add("pod")
        for ip in [*ips, *services]:
            async for doc in window.to_address(ip):
                if doc.get("traffic_type") != "EGRESS":
                    continue
                for flow in (await self._reader.resolve(doc, q.since, q.until))[:1]:
                    if ip in ips and flow.peer.workload != workload:
                        continue  # the address was another pod's then
                    key = (str(doc.get("pod_ip")), str(doc.get("pod_port")), flow.protocol)
                    conn = seen(key, flow, doc)
                    conn.flow, conn.from_caller = flow, True  # the caller's own view wins
                    conn.ports.add(f"{doc.get('traffic_in_out_port')}/{flow.protocol}")
                    conn.via.add(f"service:{services[ip]}" if ip in services else "pod")
        return ImpactReport(
            namespace=q.namespace,
            pod_name=q.pod_name,
            since=q.since,
            until=q.until,
            pod_ips=ips,
            services=sorted(set(services.values())),
            callers=_callers(connections.values())[:MAX_CALLERS],
            flows=len(connections),
        )


class _DropSearch:
    """Which DROP flows concern a failed pod, and how (``via``): seen by the pod itself
    (``pod``) or another pod of its workload (``workload``), refused at the other end of a
    connection to one of its addresses (``peer``), or aimed at an address its logs name
    (``address``); the first of these that holds."""

    def __init__(
        self, namespace: str, pods: list[str], ips: list[str], addresses: list[str]
    ) -> None:
        self._namespace = namespace
        self._pods = pods
        self._ips = ips
        self._addresses = addresses

    def via(self, doc: Document) -> str | None:
        """How the DROP flow ``doc`` concerns the pod (``None``: it does not)."""
        namespace = doc.get("pod_namespace")
        if doc.get("pod_name") in self._pods and namespace == self._namespace:
            return "pod" if doc["pod_name"] == self._pods[0] else "workload"
        kind, target = doc.get("traffic_type"), doc.get("traffic_in_out_ip")
        if kind == "INGRESS" and target in self._ips:
            return "peer"
        if kind == "EGRESS" and target in self._addresses and namespace == self._namespace:
            return "address"
        return None

    async def from_copies(
        self, rows: list[Document], window: _Window
    ) -> dict[str, tuple[Document, str]]:
        """The concerning DROP flows, by key, in the order of the kinds above: the window's
        DROP copies (``rows``), matched here, then only the matching flows read."""
        ranked = {"pod": 0, "workload": 1, "peer": 2, "address": 3}
        matched: list[tuple[tuple[int, int], str, str]] = []
        # Newest first whichever way the rows were read: the evidence listed follows it.
        for doc in sorted(rows, key=_newest, reverse=True):
            via = self.via(doc)
            if via is not None:
                pod = self._pods.index(doc["pod_name"]) if via in ("pod", "workload") else 0
                matched.append(((ranked[via], pod), str(doc["_id"]), via))
        matched.sort(key=lambda m: m[0])
        flows = await window.flows([key for _rank, key, _via in matched])
        return {key: (flows[key], via) for _rank, key, via in matched if key in flows}

    async def copies_of(self, window: _Window) -> list[Document]:
        """The window's DROP copies observed by the pods or aimed at the addresses: one
        indexed range each, so O(those DROPs) however many others the window holds."""
        keys = [{"pod_name": name} for name in self._pods]
        keys += [{"traffic_in_out_ip": ip} for ip in dict.fromkeys([*self._ips, *self._addresses])]
        rows: dict[str, Document] = {}
        for key in keys:
            for doc in await window.drop_rows_of(key):
                rows.setdefault(str(doc["_id"]), doc)
        return list(rows.values())

    async def from_flows(self, window: _Window) -> dict[str, tuple[Document, str]]:
        """The same from the flows themselves: every flow of the pods and to the addresses
        in the window is read (a database whose copies are not complete)."""
        found: dict[str, tuple[Document, str]] = {}
        reads = [window.of_pod(name) for name in self._pods]
        reads += [window.to_address(ip) for ip in [*self._ips, *self._addresses]]
        for read in reads:
            async for doc in read:
                via = self.via(doc) if doc.get("decision") == "DROP" else None
                if via is not None:
                    found.setdefault(str(doc["_id"]), (doc, via))
        return found


class _Group:
    """The DROP flows of one (observer, direction, peer, port)."""

    def __init__(self, flow: ResolvedFlow, via: str) -> None:
        self.flow = flow
        self.via = via
        self.docs: list[Document] = []
        self.flows: list[ResolvedFlow] = []

    def add(self, doc: Document, flow: ResolvedFlow) -> None:
        self.docs.append(doc)
        self.flows.append(flow)


class _Connection:
    """One connection (client address and port) to the pod, from either end."""

    def __init__(self, flow: ResolvedFlow) -> None:
        self.flow = flow
        self.hits = 0
        self.dropped = False
        self.last_seen = ""
        self.ports: set[str] = set()
        self.via: set[str] = set()
        self.from_caller = False

    def caller(self) -> tuple[Workload | None, str]:
        """The calling workload and address: the observer of a caller-side flow, else
        the resolved peer of the pod's ingress flow."""
        if self.from_caller:
            return self.flow.workload, ""
        return self.flow.peer.workload, self.flow.peer.ip


def _callers(connections: Any) -> list[Caller]:
    by: dict[str, dict[str, Any]] = {}
    for conn in connections:
        workload, ip = conn.caller()
        entry = by.setdefault(
            _ref(workload, ip),
            {"workload": workload, "ip": ip, "flows": 0, "hits": 0, "drops": 0, "dh": 0}
            | {"ports": set(), "via": set(), "last": ""},
        )
        entry["flows"] += 1
        entry["hits"] += conn.hits
        entry["drops"] += int(conn.dropped)
        entry["dh"] += conn.hits if conn.dropped else 0
        entry["ports"] |= conn.ports
        entry["via"] |= conn.via
        entry["last"] = max(entry["last"], conn.last_seen)
    callers = [
        Caller(
            workload=e["workload"].ref() if e["workload"] else None,
            namespace=e["workload"].namespace if e["workload"] else None,
            kind=e["workload"].kind if e["workload"] else None,
            name=e["workload"].name if e["workload"] else None,
            ip=None if e["workload"] else e["ip"],
            flows=e["flows"],
            hits=e["hits"],
            drops=e["drops"],
            dropped_hits=e["dh"],
            ports=sorted(e["ports"]),
            via=sorted(e["via"]),
            last_seen=e["last"],
        )
        for e in by.values()
    ]
    callers.sort(key=lambda c: (-c.drops, -c.flows, c.workload or c.ip or ""))
    return callers


def _spec(obj: Any) -> dict[str, Any]:
    if isinstance(obj, str):
        try:
            obj = msgspec.json.decode(obj)
        except msgspec.DecodeError:
            return {}
    spec = obj.get("spec", obj) if isinstance(obj, dict) else {}
    return spec if isinstance(spec, dict) else {}


def _evidence(doc: Document) -> DroppedFlow:
    return DroppedFlow(
        pod_name=str(doc.get("pod_name")),
        pod_namespace=str(doc.get("pod_namespace")),
        traffic_type=str(doc.get("traffic_type")),
        pod_ip=str(doc.get("pod_ip")),
        pod_port=str(doc.get("pod_port")),
        peer_ip=str(doc.get("traffic_in_out_ip")),
        peer_port=str(doc.get("traffic_in_out_port")),
        ip_protocol=str(doc.get("ip_protocol")),
        hits=int(doc.get("hits") or 1),
        first_seen=str(doc.get("first_seen") or doc["time_stamp"]),
        last_seen=str(doc.get("last_seen") or doc["time_stamp"]),
    )


def _fix(flows: list[ResolvedFlow], failed: Workload) -> dict[str, Any] | None:
    """A NetworkPolicy allowing ``flows`` on the side that dropped them: the observer's
    least-privilege policy for these flows alone, cut to the one direction (policies are
    additive, so it opens exactly this and isolates nothing new)."""
    observer = flows[0].workload
    policies = suggest(flows, "kubernetes", observer).policies
    if not policies:
        return None
    policy = policies[0]
    direction = "Egress" if flows[0].traffic_type == "EGRESS" else "Ingress"
    other = "ingress" if direction == "Egress" else "egress"
    spec = policy["spec"]
    spec.pop(other, None)
    spec["policyTypes"] = [direction]
    peer = flows[0].peer.workload
    target = peer.name if peer else flows[0].peer.ip
    name = f"allow-{observer.name}-{direction.lower()}-{target}-{flows[0].port}".lower()
    meta = policy["metadata"]
    meta["name"] = _NAME.sub("-", name).strip("-")[:253].rstrip("-")
    meta["annotations"] = {
        "kubeward.io/workload": f"{observer.kind}/{observer.name}",
        "kubeward.io/allows-dropped": f"{direction.lower()} of {observer.ref()} "
        f"{'to' if direction == 'Egress' else 'from'} {_ref(peer, flows[0].peer.ip)}",
        "kubeward.io/failed-workload": failed.ref(),
    }
    return policy
