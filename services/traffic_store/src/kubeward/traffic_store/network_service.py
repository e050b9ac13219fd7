"""traffic-store's network intelligence responders: policy suggestion, audit, seccomp, and
the traffic around a failed pod (its DROPs, its callers)."""

from __future__ import annotations

from typing import Any

import msgspec
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.batch_consumers import BusRuntime
from kubeward.core.bus import READ_TIME_LIMIT
from kubeward.core.mongo import Document
from kubeward.schemas import bus
from kubeward.schemas.network import (
    DropQueries,
    DropQuery,
    ImpactQuery,
    PolicyAuditRequest,
    PolicySuggestQuery,
    SeccompQuery,
)
from kubeward.schemas.replies import Reply, error
from kubeward.traffic_store.failure_traffic import DropCopies, FailureTraffic
from kubeward.traffic_store.network_flows import FlowReader
from kubeward.traffic_store.network_model import ResolvedFlow, Workload
from kubeward.traffic_store.network_policy import suggest
from kubeward.traffic_store.policy_audit import PolicyError, audit, read_policies
from kubeward.traffic_store.seccomp import observed_syscalls, profile

QUEUE = "traffic-store"
DROPS_TIME_LIMIT = 2.0
"""Database seconds a drop lookup may take: the failure-analyzer waits only briefly."""
MAX_DROP_QUERIES = 500
"""Failed pods one ``drops-many`` request may ask about (failure-analyzer's fetch batch)."""


def _ok(value: Any) -> Reply:
    return Reply(body=msgspec.Raw(msgspec.json.encode(value)))


class NetworkService:
    """Answers the network requests from flows and inventory."""

    def __init__(self, db: AsyncDatabase[Document], copies: DropCopies | None = None) -> None:
        self._db = db
        self._copies = copies or DropCopies()
        """What the DROP searches learnt of the DROP copies, shared by every request."""

    @classmethod
    async def start(cls, db: AsyncDatabase[Document], runtime: BusRuntime) -> NetworkService:
        """Ensure the inventory index it reads by and register its responders on
        ``runtime`` (the caller starts it; they stop with it)."""
        await FlowReader.ensure_indexes(db)
        service = cls(db)
        read, drops = READ_TIME_LIMIT, DROPS_TIME_LIMIT
        answer = runtime.replies
        answer(bus.RPC_NETWORK_POLICY, PolicySuggestQuery, service.suggest, QUEUE, time_limit=read)
        answer(bus.RPC_NETWORK_AUDIT, PolicyAuditRequest, service.audit, QUEUE, time_limit=read)
        answer(bus.RPC_SECCOMP, SeccompQuery, service.seccomp, QUEUE, time_limit=read)
        answer(bus.RPC_NETWORK_DROPS, DropQuery, service.drops, QUEUE, time_limit=drops)
        answer(bus.RPC_NETWORK_DROPS_MANY, DropQueries, service.drops_many, QUEUE, time_limit=drops)
        answer(bus.RPC_NETWORK_IMPACT, ImpactQuery, service.impact, QUEUE, time_limit=read)
        return service

    async def suggest(self, q: PolicySuggestQuery) -> Reply:
        """Policies for the namespace's workloads, or for one."""
        reader = FlowReader(self._db)
        workload = None
        if q.kind is not None and q.name is not None:
            workload = Workload(q.namespace, q.kind, q.name)
            flows = await reader.workload_flows(workload, q.since, q.until)
        else:
            flows = await reader.namespace_flows(q.namespace, q.since, q.until)
        return _ok(suggest(flows, q.format, workload, cover=q.cidr == "cover"))

    async def audit(self, req: PolicyAuditRequest) -> Reply:
        """The flows of the policies' namespaces that the policies would block."""
        try:
            policies = read_policies(req.policies)
        except PolicyError as exc:
            return error(400, str(exc))
        reader = FlowReader(self._db)
        flows: list[ResolvedFlow] = []
        for namespace in sorted({p.namespace for p in policies}):
            flows += await reader.namespace_flows(namespace, req.since, req.until)
        return _ok(audit(policies, flows))

    async def seccomp(self, q: SeccompQuery) -> Reply:
        """The pod's profile; 404 when no syscalls of it were observed."""
        found = await observed_syscalls(self._db, q.namespace, q.pod)
        if found is None:
            return error(
                404,
                f"No syscalls observed for pod {q.pod} in namespace {q.namespace} "
                "(kguardian's controller posts them to /pod/syscalls)",
            )
        return _ok(profile(*found))

    async def drops(self, q: DropQuery) -> Reply:
        """DROP flows around a failed pod, per peer, with the policy that would allow them."""
        try:
            return _ok(await FailureTraffic(self._db, self._copies).drops(q))
        except ValueError as exc:  # a window that is not a stored time
            return error(400, f"Invalid window: {exc}")

    async def drops_many(self, q: DropQueries) -> Reply:
        """:meth:`drops` for a batch of failed pods, in one answer."""
        if len(q.queries) > MAX_DROP_QUERIES:
            return error(400, f"queries: at most {MAX_DROP_QUERIES} per request")
        try:
            answer = await FailureTraffic(self._db, self._copies).drops_many(q.queries)
        except ValueError as exc:
            return error(400, f"Invalid window: {exc}")
        return _ok(answer)

    async def impact(self, q: ImpactQuery) -> Reply:
        """The workloads that called a pod (or its Services) in a window."""
        try:
            return _ok(await FailureTraffic(self._db).impact(q))
        except ValueError as exc:
            return error(400, f"Invalid window: {exc}")
