"""kguardian's pod/service inventory: pods, services, syscalls and the pods' IP history.

Collections (owned here):
- ``pod_details``: one document per pod name (the broker's key), the stored ``PodDetail``
  with its manifest kept as JSON text, plus the ids of the IP intervals it holds open;
- ``pod_ip_history``: one document per ``(ip, pod, from)`` interval, ``until`` being
  :data:`OPEN` while the pod holds the IP; indexed on ``(ip, until)`` so "who held IP x at
  time t" is the first interval of x ending after t: one bounded, indexed query;
- ``svc_details``: one document per cluster IP; ``pod_syscalls``: one per pod name.

Writes are idempotent under redelivery: interval ids derive from the record, intervals are
written before the pod document that points at them, and closing only touches open ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.schemas.inventory import (
    InventoryGroup,
    InventoryQuery,
    MarkDead,
    PodDetail,
    PodSyscalls,
    PodSyscallsRow,
    SvcDetail,
    chrono_time,
)
from kubeward.schemas.replies import NULL, Reply, error
from kubeward.schemas.traffic import TIMESTAMP_FORMAT

PODS = "pod_details"
IP_HISTORY = "pod_ip_history"
SERVICES = "svc_details"
SYSCALLS = "pod_syscalls"
OPEN = "9999-12-31T23:59:59.999999"
"""``until`` of an interval still held (sorts after every real time)."""
NO_DATA = "No data found"

_pod = msgspec.json.Decoder(PodDetail)
_svc = msgspec.json.Decoder(SvcDetail)
_dead = msgspec.json.Decoder(MarkDead)
_syscalls = msgspec.json.Decoder(PodSyscalls)
_JSON_FIELDS = ("pod_obj", "workload_selector_labels")


class _PodRow(msgspec.Struct):
    """A pod as the broker answers it (its field order, chrono times)."""

    pod_name: str
    pod_ip: str
    pod_namespace: str | None
    pod_obj: msgspec.Raw
    time_stamp: str
    node_name: str
    is_dead: bool
    pod_identity: str | None
    workload_selector_labels: msgspec.Raw
    pod_ips: list[str] | None
    workload_kind: str | None
    workload_name: str | None
    capture_level: str | None
    host_network: bool | None
    started_at: str | None


class _SvcRow(msgspec.Struct):
    svc_ip: str
    svc_name: str | None
    svc_namespace: str | None
    service_spec: msgspec.Raw
    time_stamp: str


def _raw(text: str | None) -> msgspec.Raw:
    return msgspec.Raw(text.encode()) if text is not None else NULL


def _json_text(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def pod_row(doc: Document) -> _PodRow:
    """A stored pod document in the broker's answer shape."""
    started = doc.get("started_at")
    return _PodRow(
        pod_name=doc["pod_name"],
        pod_ip=doc["pod_ip"],
        pod_namespace=doc.get("pod_namespace"),
        pod_obj=_raw(doc.get("pod_obj")),
        time_stamp=chrono_time(doc["time_stamp"]),
        node_name=doc["node_name"],
        is_dead=doc["is_dead"],
        pod_identity=doc.get("pod_identity"),
        workload_selector_labels=_raw(doc.get("workload_selector_labels")),
        pod_ips=doc.get("pod_ips"),
        workload_kind=doc.get("workload_kind"),
        workload_name=doc.get("workload_name"),
        capture_level=doc.get("capture_level"),
        host_network=doc.get("host_network"),
        started_at=chrono_time(started) if started else None,
    )


def svc_row(doc: Document) -> _SvcRow:
    """A stored service document in the broker's answer shape."""
    return _SvcRow(
        svc_ip=doc["_id"],
        svc_name=doc.get("svc_name"),
        svc_namespace=doc.get("svc_namespace"),
        service_spec=_raw(doc.get("service_spec")),
        time_stamp=chrono_time(doc["time_stamp"]),
    )


def _ok(value: Any) -> Reply:
    return Reply(body=msgspec.Raw(msgspec.json.encode(value)))


def _stored_time(origin_us: int) -> str:
    return datetime.fromtimestamp(origin_us / 1e6, UTC).strftime(TIMESTAMP_FORMAT)


class InventoryStore:
    """Writes and reads of the inventory collections."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._pods: AsyncCollection[Document] = db[PODS]
        self._history: AsyncCollection[Document] = db[IP_HISTORY]
        self._services: AsyncCollection[Document] = db[SERVICES]
        self._syscalls: AsyncCollection[Document] = db[SYSCALLS]

    async def ensure_indexes(self) -> None:
        """Pods by IP and by node; IP intervals by (ip, until)."""
        await self._pods.create_index([("pod_ip", ASCENDING)])
        await self._pods.create_index([("node_name", ASCENDING), ("is_dead", ASCENDING)])
        await self._history.create_index([("ip", ASCENDING), ("until", ASCENDING)])

    # --- writes -----------------------------------------------------------------

    async def apply(self, group: InventoryGroup) -> bytes:
        """Apply a group's records in order; the JSON the HTTP caller gets."""
        answer: bytes = b"null"
        if group.kind == "pod-spec":
            for record in group.records:
                answer = await self._pod_spec(_pod.decode(record))
        elif group.kind == "svc-spec":
            for record in group.records:
                answer = await self._svc_spec(_svc.decode(record))
        elif group.kind == "pod-dead":
            at = _stored_time(group.origin_us)
            count = 0
            for record in group.records:
                count += await self._mark_dead(_dead.decode(record), at)
            answer = msgspec.json.encode(count)
        else:
            for record in group.records:
                await self._pod_syscalls(_syscalls.decode(record))
        return answer

    async def _pod_spec(self, pod: PodDetail) -> bytes:
        answer = msgspec.json.encode(pod)
        if not pod.pod_name.strip():
            return answer  # the broker answers the form and stores nothing
        name = pod.pod_name
        prev = await self._pods.find_one({"_id": name}, {"open_intervals": 1})
        held: dict[str, str] = {
            iid.split("|", 1)[0]: iid for iid in (prev or {}).get("open_intervals", [])
        }
        since = pod.time_stamp
        if pod.started_at is not None and pod.started_at < since:
            since = pod.started_at
        wanted = [] if pod.is_dead else list(pod.pod_ips or [])
        for ip, iid in held.items():
            if ip not in wanted:
                await self._close(iid, since if wanted else pod.time_stamp)
        open_ids = [held[ip] for ip in wanted if ip in held]
        for ip in wanted:
            if ip in held:
                continue
            iid = f"{ip}|{name}|{since}"
            until = OPEN
            async for other in self._history.find({"ip": ip, "until": OPEN}, {"from": 1}):
                if other["_id"] == iid:
                    continue
                if other["from"] <= since:
                    await self._close(other["_id"], since)
                else:  # a late spec: the IP has a newer holder, so ours ended then
                    until = min(until, other["from"])
            await self._history.update_one(
                {"_id": iid},
                {
                    "$setOnInsert": {
                        "ip": ip,
                        "pod_name": name,
                        "pod_namespace": pod.pod_namespace,
                        "from": since,
                        "until": until,
                    }
                },
                upsert=True,
            )
            if until == OPEN:
                open_ids.append(iid)
        fields = msgspec.structs.asdict(pod)
        for key in _JSON_FIELDS:
            fields[key] = _json_text(fields[key])
        # As the broker's upsert (diesel AsChangeset): a null never overwrites a value.
        changes = {k: v for k, v in fields.items() if v is not None}
        changes["open_intervals"] = open_ids
        blanks = {k: None for k, v in fields.items() if v is None}
        update: dict[str, Any] = {"$set": changes}
        if blanks:
            update["$setOnInsert"] = blanks
        await self._pods.update_one({"_id": name}, update, upsert=True)
        return answer

    async def _close(self, iid: str, until: str) -> None:
        """End an open interval at ``until`` (never before it began)."""
        begun = iid.rsplit("|", 1)[-1]
        await self._history.update_one(
            {"_id": iid, "until": OPEN}, {"$set": {"until": max(until, begun)}}
        )

    async def _mark_dead(self, dead: MarkDead, at: str) -> int:
        if not dead.pod_name:
            return 0
        flt: dict[str, Any] = {"_id": dead.pod_name}
        if dead.pod_ip is not None:
            flt["pod_ip"] = dead.pod_ip
        prev = await self._pods.find_one(flt, {"open_intervals": 1})
        if prev is None:
            return 0
        for iid in prev.get("open_intervals", []):
            await self._close(iid, at)
        await self._pods.update_one(flt, {"$set": {"is_dead": True, "open_intervals": []}})
        return 1

    async def _svc_spec(self, svc: SvcDetail) -> bytes:
        answer = msgspec.json.encode(svc)
        if not svc.svc_ip or svc.svc_ip == "None":
            return answer  # headless / ExternalName: answered, never stored (as the broker)
        fields = msgspec.structs.asdict(svc)
        del fields["svc_ip"]
        fields["service_spec"] = _json_text(fields["service_spec"])
        update: dict[str, Any] = {"$set": {k: v for k, v in fields.items() if v is not None}}
        blanks = {k: None for k, v in fields.items() if v is None}
        if blanks:
            update["$setOnInsert"] = blanks
        await self._services.update_one({"_id": svc.svc_ip}, update, upsert=True)
        return answer

    async def _pod_syscalls(self, entry: PodSyscalls) -> None:
        if not entry.pod_name.strip():
            return  # skipped per entry, as the broker does
        await self._syscalls.update_one(
            {"_id": entry.pod_name},
            {
                "$set": {"syscalls": ",".join(entry.syscalls)},
                "$setOnInsert": {
                    "pod_namespace": entry.pod_namespace,
                    "arch": entry.arch,
                    "time_stamp": entry.time_stamp,
                },
            },
            upsert=True,
        )

    # --- reads ------------------------------------------------------------------

    async def query(self, q: InventoryQuery) -> Reply:
        """Answer one lookup in the broker's shape; 404 ``No data found`` when it has none."""
        if q.lookup == "pods":
            docs = await self._pods.find({}).to_list()
            docs.sort(key=_by_namespace_and_name)
            return _ok([pod_row(d) for d in docs])  # the broker's empty load is 200 []
        if q.lookup == "pods-on-node":
            docs = await self._pods.find({"node_name": q.key, "is_dead": False}).to_list()
            docs.sort(key=_by_namespace_and_name)
            return _ok([pod_row(d) for d in docs])
        if q.lookup == "pod-by-name":
            doc = await self._pods.find_one({"_id": q.key})
            return _ok(pod_row(doc)) if doc else error(404, NO_DATA)
        if q.lookup == "pod-by-ip":
            doc = await (self.pod_at(q.key, q.at) if q.at else self._pod_by_ip(q.key))
            return _ok(pod_row(doc)) if doc else error(404, NO_DATA)
        if q.lookup == "services":
            docs = await self._services.find({}).to_list()
            docs.sort(
                key=lambda d: (
                    d.get("svc_namespace") is None,
                    d.get("svc_namespace") or "",
                    d.get("svc_name") is None,
                    d.get("svc_name") or "",
                    d["_id"],
                )
            )
            return _ok([svc_row(d) for d in docs])
        if q.lookup == "svc-by-ip":
            doc = await self._services.find_one({"_id": q.key})
            return _ok(svc_row(doc)) if doc else error(404, NO_DATA)
        doc = await self._syscalls.find_one({"_id": q.key})
        if doc is None:
            return _ok([])  # the broker's empty result set is 200 []
        return _ok(
            [
                PodSyscallsRow(
                    pod_name=doc["_id"],
                    pod_namespace=doc["pod_namespace"],
                    syscalls=doc["syscalls"],
                    arch=doc["arch"],
                    time_stamp=chrono_time(doc["time_stamp"]),
                )
            ]
        )

    async def _pod_by_ip(self, ip: str) -> Document | None:
        """Live first, then the most recently seen (the broker's order)."""
        docs = await self._pods.find({"pod_ip": ip}).to_list()
        if not docs:
            holder = await self._history.find_one({"ip": ip, "until": OPEN})
            if holder is None:
                return None
            found = await self._pods.find_one({"_id": holder["pod_name"]})
            return found
        docs.sort(key=lambda d: (d["is_dead"], _descending(d["time_stamp"])))
        return docs[0]

    async def pod_at(self, ip: str, at: str) -> Document | None:
        """The pod that held ``ip`` at ``at``: the first interval of ``ip`` ending after
        ``at`` (an indexed range, limit 1), if it had begun by then."""
        found = (
            await self._history.find({"ip": ip, "until": {"$gt": at, "$lte": OPEN}})
            .sort([("until", ASCENDING)])
            .limit(1)
            .to_list()
        )
        if not found or found[0]["from"] > at:
            return None
        return await self._pods.find_one({"_id": found[0]["pod_name"]})


def _by_namespace_and_name(doc: Document) -> tuple[bool, str, str]:
    """The broker's ``ORDER BY pod_namespace, pod_name`` (NULL namespaces last)."""
    namespace = doc.get("pod_namespace")
    return (namespace is None, namespace or "", doc["_id"])


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)
