"""Network policy benchmark: suggestion and audit for one workload among N stored flows,
next to the raw cost of reading the same flows from the same MongoDB in the same run.

Run by ``make bench`` (``uv run --no-sync python -m bench.network_policy [--flows N]
[--workload-flows W] [--runs R] [--mongo-disk]``; ``--flows 1000000 --mongo-disk`` for the
1 M figure: in memory, SecantusDB's WiredTiger cache overflows before 1 M flows).

Seeds a fresh SecantusDB (or ``--mongo-url``) with the kguardian inventory of 10 namespaces
of 10 Deployments x 3 pods, three Services (api, postgres, kube-dns) and N flow documents
shaped as traffic-store stores them (its dedup key as ``_id``, ``hits``, ``first_seen``,
``last_seen``; inserted with ``insert_many``, traffic-store's own indexes). The measured
workload, ``shop/Deployment/api`` (3 pods), has W of them (served to the frontend, calls to
postgres through its Service, DNS, 20 external addresses; client ports differ per flow as on
a node); ``shop`` has as many again from its other pods; the rest of N is spread over the
other namespaces. Then, R times each, median reported:

1. raw: the workload's flows read as the suggestion reads them (per pod, a bounded
   ``time_stamp`` range on ``(pod_name, time_stamp, uuid)``) into a list, nothing else;
2. the suggestion for the workload (``NetworkService.suggest``: reads, inventory lookups,
   rules, objects);
3. raw: the namespace's flows (bounded range on ``(pod_namespace, time_stamp, uuid)``);
4. the audit of the workload's generated policy (reads the namespace's flows);
5. the DROPs around a failure of one api pod (``NetworkService.drops``), next to 1.: with no
   DROP stored it stops at the DROP span; then, with a DROP written in another namespace,
   from the DROP copies (``pod_traffic_rare``) and, the same query once more without the
   copies' marker, reading the workload's flows by pod and those aimed at the pod's
   address (as a database written before the copies is searched); in between, with a
   storm of ``--storm`` DROP flows of other namespaces spread over the window, once reading
   every copy in the window (a cap above the storm) and once as configured (past
   ``MAX_DROP_COPIES`` copies, only those of the workload's pods and the pod's address);
6. the callers of that pod (``NetworkService.impact``: its flows, and those aimed at its
   address and at the api Service's, on ``(traffic_in_out_ip, time_stamp)``), next to the
   raw read of the same three ranges.

It checks the answers (one policy; the audit of the generated policy denies nothing) and
prints the ratios; it never asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from bench import common
from bench.common import BenchError, Stack, machine_info, ratio_line, say
from bench.latency import T, timed_calls
from kubeward.schemas.inventory import InventoryGroup, PodDetail, SvcDetail
from kubeward.schemas.network import (
    DropQuery,
    DropReport,
    ImpactQuery,
    ImpactReport,
    PolicyAuditRequest,
    PolicySuggestQuery,
)
from kubeward.schemas.traffic import (
    TIMESTAMP_FORMAT,
    PodTrafficBatch,
    PodTrafficEvent,
    PodTrafficGroup,
)
from kubeward.traffic_store.failure_traffic import MAX_DROP_COPIES, DropCopies
from kubeward.traffic_store.flows import flow_key
from kubeward.traffic_store.inventory import OPEN, InventoryStore
from kubeward.traffic_store.network_flows import FlowReader
from kubeward.traffic_store.network_service import NetworkService
from kubeward.traffic_store.pod_traffic import COLLECTION, SPANS, PodTrafficStore
from kubeward.traffic_store.rare_flows import MARKER as RARE_MARKER

NAMESPACES = 10
DEPLOYMENTS = 10
PODS_PER = 3
EXTERNALS = 20
DB = "kw_bench_network"
START = datetime(2026, 5, 12, 10, 0, 0)


def _pod(ns: int, dep: int, pod: int) -> dict[str, Any]:
    namespace = "shop" if ns == 0 else f"ns{ns}"
    app = "api" if (ns, dep) == (0, 0) else "frontend" if (ns, dep) == (0, 1) else f"app{dep}"
    name = f"{app}-5f7d8c9b6-p{pod}"
    return {
        "pod_name": name if ns == 0 else f"{name}-{namespace}",
        "pod_ip": f"10.{100 + ns}.{dep}.{pod + 1}",
        "pod_ips": [f"10.{100 + ns}.{dep}.{pod + 1}"],
        "pod_namespace": namespace,
        "pod_obj": {
            "metadata": {
                "labels": {"app": app, "pod-template-hash": "5f7d8c9b6"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": f"{app}-5f7d8c9b6"}],
            }
        },
        "time_stamp": "2026-05-12T08:00:00.000000",
        "node_name": "node-a",
        "is_dead": False,
    }


def _svc(ip: str, name: str, ns: str, selector: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "svc_ip": ip,
        "svc_name": name,
        "svc_namespace": ns,
        "service_spec": {
            "spec": {"selector": selector, "ports": [{"port": port, "protocol": "TCP"}]}
        },
        "time_stamp": "2026-05-12T08:00:00.000000",
    }


def _doc(event: dict[str, Any], n: int) -> dict[str, Any]:
    """A flow document as traffic-store stores it."""
    ts = (START + timedelta(milliseconds=n)).strftime(TIMESTAMP_FORMAT)
    row = event | {"uuid": f"00000000-0000-4000-8000-{n:012d}", "time_stamp": ts}
    key = flow_key(msgspec.convert(row, PodTrafficEvent), 32768)
    return row | {"_id": key, "hits": 1, "first_seen": ts, "last_seen": ts, "applied": [n]}


def _event(
    pod: dict[str, Any],
    direction: str,
    peer: str,
    pod_port: int,
    peer_port: int,
    proto: str = "TCP",
) -> dict[str, Any]:
    return {
        "pod_name": pod["pod_name"],
        "pod_namespace": pod["pod_namespace"],
        "pod_ip": pod["pod_ip"],
        "pod_port": str(pod_port),
        "traffic_type": direction,
        "traffic_in_out_ip": peer,
        "traffic_in_out_port": str(peer_port),
        "ip_protocol": proto,
        "decision": "ALLOW",
    }


def flows(pods: list[dict[str, Any]], total: int, workload: int) -> list[dict[str, Any]]:
    """``workload`` flows of shop/api, as many of shop's other pods, the rest elsewhere."""
    api = [p for p in pods if p["pod_name"].startswith("api-")]
    frontend = [p for p in pods if p["pod_name"].startswith("frontend-")]
    shop_rest = [
        p for p in pods if p["pod_namespace"] == "shop" and not p["pod_name"].startswith("api-")
    ]
    others = [p for p in pods if p["pod_namespace"] != "shop"]
    docs = []
    for n in range(workload):
        pod = api[n % len(api)]
        client = 32768 + n % 28000
        kind = n % 4
        if kind == 0:
            src = frontend[n % len(frontend)]["pod_ip"]
            event = _event(pod, "INGRESS", src, 8080, client)
        elif kind == 1:
            event = _event(pod, "EGRESS", "10.96.10.30", client, 5432)
        elif kind == 2:
            event = _event(pod, "EGRESS", "10.96.0.10", client, 53, "UDP")
            event["pod_port"] = str(1024 + n)  # below the folding range: one flow each
        else:
            event = _event(pod, "EGRESS", f"203.0.113.{n % EXTERNALS + 1}", client, 443)
        docs.append(_doc(event, n))
    for n in range(workload, 2 * workload):
        pod = shop_rest[n % len(shop_rest)]
        docs.append(_doc(_event(pod, "EGRESS", "10.96.10.20", 32768 + n % 28000, 80), n))
    for n in range(2 * workload, total):
        pod = others[n % len(others)]
        peer = others[(n * 7) % len(others)]["pod_ip"]
        client = 1024 + (n // len(others)) % 64000  # distinct flows up to 17 M
        docs.append(_doc(_event(pod, "INGRESS", peer, 8080, client), n))
    return docs


async def _median(runs: int, what: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    times, result = await timed_calls(what, runs)
    return statistics.median(times), result


async def measure(url: str, total: int, workload: int, storm: int, runs: int) -> list[str]:
    async with common.mongo_client(url) as client:
        await client.drop_database(DB)
        db = client[DB]
        inventory = InventoryStore(db)
        await inventory.ensure_indexes()
        pods = [
            _pod(ns, dep, p)
            for ns in range(NAMESPACES)
            for dep in range(DEPLOYMENTS)
            for p in range(PODS_PER)
        ]
        say(f"seeding {len(pods)} pods, 3 Services")
        records = [msgspec.json.encode(msgspec.convert(p, PodDetail)) for p in pods]
        for record in records:
            await inventory.apply(InventoryGroup(1, 0, None, "pod-spec", [record]))
        services = [
            _svc("10.96.10.20", "api", "shop", {"app": "api"}, 80),
            _svc("10.96.10.30", "postgres", "shop", {"app": "app2"}, 5432),
            _svc("10.96.0.10", "kube-dns", "kube-system", {"k8s-app": "kube-dns"}, 53),
        ]
        svc_records = [msgspec.json.encode(msgspec.convert(s, SvcDetail)) for s in services]
        await inventory.apply(InventoryGroup(1, 0, None, "svc-spec", svc_records))
        store = PodTrafficStore(db[COLLECTION], 32768)
        await store.ensure_indexes()
        await FlowReader.ensure_indexes(db)
        docs = flows(pods, total, workload)
        say(f"inserting {len(docs)} flows")
        started = time.perf_counter()
        for first in range(0, len(docs), 10_000):
            await db[COLLECTION].insert_many(docs[first : first + 10_000], ordered=False)
        say(f"inserted in {time.perf_counter() - started:.1f} s")
        api_pods = [p["pod_name"] for p in pods if p["pod_name"].startswith("api-")]
        window = {"$gt": "0", "$lt": OPEN}

        async def raw_workload() -> int:
            count = 0
            for name in api_pods:
                count += len(
                    await db[COLLECTION].find({"pod_name": name, "time_stamp": window}).to_list()
                )
            return count

        async def raw_namespace() -> int:
            return len(
                await db[COLLECTION].find({"pod_namespace": "shop", "time_stamp": window}).to_list()
            )

        service = NetworkService(db)
        query = PolicySuggestQuery(namespace="shop", kind="Deployment", name="api")
        raw_w, read_w = await _median(runs, raw_workload)
        suggest_s, reply = await _median(runs, lambda: service.suggest(query))
        answer = msgspec.json.decode(reply.body)
        if len(answer["policies"]) != 1 or answer["flows_used"] != workload:
            raise BenchError(
                f"unexpected suggestion: {len(answer['policies'])} policies, "
                f"{answer['flows_used']} flows"
            )
        raw_ns, read_ns = await _median(runs, raw_namespace)
        request = PolicyAuditRequest(policies=answer["policies"])
        audit_s, reply = await _median(runs, lambda: service.audit(request))
        verdict = msgspec.json.decode(reply.body)
        if verdict["would_deny"] or verdict["evaluated"] != 2 * workload:
            raise BenchError(
                f"unexpected audit: {verdict['evaluated']} evaluated, "
                f"{len(verdict['would_deny'])} denied"
            )
        failed = next(p for p in pods if p["pod_name"] == api_pods[0])
        end = (START + timedelta(milliseconds=total + 1)).strftime(TIMESTAMP_FORMAT)
        since = START.strftime(TIMESTAMP_FORMAT)
        drop_q = DropQuery(namespace="shop", pod_name=failed["pod_name"], since=since, until=end)
        drops_s, reply = await _median(runs, lambda: service.drops(drop_q))
        if msgspec.json.decode(reply.body, type=DropReport).peers:
            raise BenchError("drops found among ALLOW flows")
        # A DROP elsewhere in the window, written as traffic-store writes it (the flow, its
        # copy, the spans): the search can no longer stop at the DROP span.
        others = [p for p in pods if p["pod_namespace"] != "shop"]
        other = others[0]
        event = _event(other, "EGRESS", "10.96.0.99", 40000, 9999) | {"decision": "DROP"}
        row = _doc(event, total) | {"uuid": ""}
        fields = {f: row[f] for f in PodTrafficEvent.__struct_fields__}
        group = PodTrafficGroup(1, None, [msgspec.convert(fields, PodTrafficEvent)])
        await store.write([(total + 1, PodTrafficBatch([group]))])

        async def drops_elsewhere() -> None:
            if msgspec.json.decode((await service.drops(drop_q)).body, type=DropReport).peers:
                raise BenchError("a DROP of another namespace counted for the api pod")

        copies_s, _ = await _median(runs, drops_elsewhere)
        # A DROP storm elsewhere: ``storm`` distinct DROP flows spread over the window.
        say(f"writing a storm of {storm} DROP flows elsewhere")
        events = []
        for i in range(storm):
            pod = others[i % len(others)]
            event = _event(pod, "EGRESS", f"10.97.{i // 250}.{i % 250}", 40000, 9999)
            row = _doc(event | {"decision": "DROP"}, i * total // storm) | {"uuid": ""}
            events.append(msgspec.convert({f: row[f] for f in fields}, PodTrafficEvent))
        group = PodTrafficGroup(2, None, events)  # another collect message than the DROP above
        await store.write([(total + 2, PodTrafficBatch([group]))])

        async def storm_search(service: NetworkService) -> None:
            report = msgspec.json.decode((await service.drops(drop_q)).body, type=DropReport)
            if report.peers:
                raise BenchError("a DROP of another namespace counted for the api pod")

        every = NetworkService(db, DropCopies(cap=2 * storm))  # as before the cap
        for searching in (every, service):
            await storm_search(searching)  # the first search learns the copies' density
        every_s, _ = await _median(runs, lambda: storm_search(every))
        storm_s, _ = await _median(runs, lambda: storm_search(service))
        await db[SPANS].delete_one({"_id": RARE_MARKER})  # as before the copies existed
        flows_s, _ = await _median(runs, drops_elsewhere)

        async def raw_impact() -> int:
            count = 0
            for key in (
                {"pod_name": failed["pod_name"]},
                {"traffic_in_out_ip": failed["pod_ip"]},
                {"traffic_in_out_ip": "10.96.10.20"},
            ):
                count += len(await db[COLLECTION].find(key | {"time_stamp": window}).to_list())
            return count

        raw_i, read_i = await _median(runs, raw_impact)
        impact_q = ImpactQuery(
            namespace="shop", pod_name=failed["pod_name"], since=since, until=end
        )
        impact_s, reply = await _median(runs, lambda: service.impact(impact_q))
        impact = msgspec.json.decode(reply.body, type=ImpactReport)
        if impact.services != ["shop/api"] or not impact.callers:
            raise BenchError(f"unexpected impact: {impact.services}, {len(impact.callers)}")
        await client.drop_database(DB)
    return [
        f"flows stored: {total}; workload shop/Deployment/api: {read_w} flows; "
        f"namespace shop: {read_ns}",
        f"  raw read of the workload's flows  {raw_w * 1e3:8.1f} ms",
        f"  suggestion for the workload       {suggest_s * 1e3:8.1f} ms",
        f"  raw read of the namespace's flows {raw_ns * 1e3:8.1f} ms",
        f"  audit of the generated policy     {audit_s * 1e3:8.1f} ms",
        ratio_line("suggestion / raw read of its flows", suggest_s / raw_w, "x the raw read"),
        ratio_line("audit / raw read of the namespace's flows", audit_s / raw_ns, "x the raw read"),
        f"  DROPs around a failure of an api pod {drops_s * 1e3:8.1f} ms",
        ratio_line("drops / raw read of the workload's flows", drops_s / raw_w, "x the raw read"),
        "  the same with a DROP elsewhere in the window:",
        f"    from the DROP copies                {copies_s * 1e3:8.1f} ms",
        f"    reading the workload's flows        {flows_s * 1e3:8.1f} ms",
        ratio_line("drops from the copies / from the flows", copies_s / flows_s, "x"),
        f"  the same in a storm of {storm} DROP flows elsewhere (before the storm: the copies):",
        f"    reading every copy in the window    {every_s * 1e3:8.1f} ms",
        f"    met (over {MAX_DROP_COPIES}): the pod's copies {storm_s * 1e3:8.1f} ms",
        ratio_line("storm search / reading every copy", storm_s / every_s, "x"),
        ratio_line("storm search / no storm", storm_s / copies_s, "x"),
        f"  raw read of the pod's and its Service's flows ({read_i}) {raw_i * 1e3:8.1f} ms",
        f"  callers of the api pod ({impact.flows} connections) {impact_s * 1e3:8.1f} ms",
        ratio_line("impact / raw read of the same flows", impact_s / raw_i, "x the raw read"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flows", type=int, default=100_000, help="flows stored (N)")
    parser.add_argument(
        "--workload-flows", type=int, default=2000, help="flows of the measured workload (W)"
    )
    parser.add_argument(
        "--storm", type=int, default=5000, help="DROP flows of the DROP storm phase"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--mongo-url", default="", help="an external MongoDB instead of SecantusDB")
    parser.add_argument(
        "--mongo-disk",
        action="store_true",
        help="SecantusDB on a temporary directory (1 M flows overflow its in-memory cache)",
    )
    args = parser.parse_args(argv)
    if args.flows < 3 * args.workload_flows:
        parser.error("--flows must be at least 3 x --workload-flows")

    def body(stack: Stack) -> str:
        mongo = common.FreshMongo(stack, args.mongo_url, disk=args.mongo_disk)
        lines = asyncio.run(
            measure(mongo(), args.flows, args.workload_flows, args.storm, args.runs)
        )
        head = [f"Network policy suggestion and audit ({mongo.kind}), median of {args.runs}"]
        return "\n".join(head + lines + machine_info(common.version("secantusdb")))

    return common.run("kw-bench-netpol-", body, scratch=("mongo",))


if __name__ == "__main__":
    raise SystemExit(main())
