"""Failure reports over HTTP: ``POST /api/pods/failed`` at 1, 8 and 32 keep-alive clients.

Run by ``make bench`` (``uv run --no-sync python -m bench.failure_http [--reports N]
[--large]``; ``--help`` lists every option).

It starts nats-server, SecantusDB (in memory) and redis-server on free ports, then
gateway, ingest, failure-analyzer, security and traffic-store as processes (as ``make run``
does, offline diagnosis on, the security scan of each manifest running), and the bare
Litestar app of ``bench/bare_app.py``. The reports are
:mod:`kubeward.devstack.failure_reports`' realistic agent reports
(~7 KB: events, container statuses, a manifest, logs); each is one ``POST`` that answers
when the report is stored and diagnosed. Every answer must be 200 with the record.

Figures, each next to the raw limit it rests on, measured in the same run:
- req/s and p50/p99 at 1, 8 and 32 clients, against the bare app's ``POST /echo`` (same
  uvicorn setup, same bodies, same clients) and ``insert_many`` of the same records;
- the per-report cost at 1 k and 10 k stored records (100 k with ``--large``, SecantusDB on
  disk then: 100 k records overflow its in-memory cache), the store
  filled with record-shaped documents by ``insert_many`` between the measurements;
- "no stall": POST p99 at 8 clients while 4 clients list ``GET /api/pods/failed``
  continuously, against the same POSTs alone; then the same with 4 clients listing
  ``GET /api/security/findings?limit=1000``.
It never asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from pymongo import AsyncMongoClient

from bench import common
from bench.common import (
    BenchError,
    Document,
    Stack,
    cpu_delta,
    machine_info,
    own_servers,
    ratio_line,
    say,
    version,
)
from bench.failures import raw_insert, record_doc, record_docs
from bench.gateway import login
from bench.http1 import SESSION_COOKIE, start_bare_app
from kubeward.devstack.failure_reports import generate
from kubeward.failure_analyzer.diagnosis import diagnose, render

SERVICES = ("ingest", "failure_analyzer", "security", "traffic_store", "gateway")
LISTERS = 4
PRELOAD_BATCH = 1000


@dataclass
class Load:
    """One load phase: requests, wall seconds, sorted latencies in seconds."""

    label: str
    clients: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in seconds."""
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))]

    def line(self) -> str:
        """``label  req/s  p50  p99``."""
        return (
            f"{self.label:<44} {self.rate:8.1f} req/s  p50 {self.pct(0.5) * 1000:7.1f} ms"
            f"  p99 {self.pct(0.99) * 1000:7.1f} ms"
        )


async def post_load(
    url: str, headers: dict[str, str], bodies: Sequence[bytes], clients: int, label: str
) -> Load:
    """POST every body once, ``clients`` at a time over keep-alive connections."""
    todo = iter(bodies)
    latencies: list[float] = []
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client() -> None:
            for body in todo:
                started = time.perf_counter()
                async with session.post(url, data=body) as answer:
                    data = await answer.read()
                    if answer.status != 200:
                        failures.append(f"{answer.status}: {data[:200]!r}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    if failures:
        raise BenchError(f"{label}: {len(failures)} answers were not 200, e.g. {failures[0]}")
    return Load(label, clients, seconds, sorted(latencies))


async def list_forever(
    url: str, cookie: str, stop: asyncio.Event, took: list[float]
) -> Counter[int]:
    """GET ``url`` in a loop until ``stop``; how many answered with each status (a slow
    listing answers 503 after the gateway's timeout: counted, not fatal). Each answer's
    time goes to ``took``."""
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as session:
        while not stop.is_set():
            began = time.perf_counter()
            async with session.get(url) as answer:
                await answer.read()
                statuses[answer.status] += 1
            took.append(time.perf_counter() - began)
    return statuses


async def fill(mongo_url: str, db_name: str, upto: int, template: Sequence[Document]) -> int:
    """Top the store up to ``upto`` records with record-shaped documents, keeping the id
    counter ahead of them; returns how many records it holds."""
    async with AsyncMongoClient[Document](mongo_url) as client:
        db = client[db_name]
        have = await db["pod_failures"].estimated_document_count()
        counter = await db["counters"].find_one({"_id": "pod_failures"})
        next_id = int(counter["seq"]) if counter else 0
        seen = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        docs: list[Document] = []
        for n in range(max(0, upto - have)):
            doc = dict(template[n % len(template)])
            next_id += 1
            doc |= {"_id": next_id, "open_key": f"preload/{next_id}", "first_seen": seen}
            doc |= {"last_seen": seen, "status_changed_at": seen}
            docs.append(doc)
            if len(docs) == PRELOAD_BATCH:
                await db["pod_failures"].insert_many(docs, ordered=False)
                docs.clear()
        if docs:
            await db["pod_failures"].insert_many(docs, ordered=False)
        await db["counters"].update_one(
            {"_id": "pod_failures"}, {"$max": {"seq": next_id}}, upsert=True
        )
        return int(await db["pod_failures"].estimated_document_count())


def _per_listing(alone: Mapping[str, float], busy: Mapping[str, float], listings: int) -> str:
    extra = {k: (v - alone.get(k, 0.0)) / max(1, listings) * 1000 for k, v in busy.items()}
    ranked = sorted(extra.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.1f}" for k, v in ranked if abs(v) >= 0.1)


def bodies_for(reports: int, seed: int) -> list[bytes]:
    """``reports`` agent reports (20 % repeats), JSON-encoded."""
    return generate(reports, seed=seed).messages


async def measure(
    args: argparse.Namespace,
    gw: str,
    bare: str,
    token: str,
    mongo_url: str,
    db_name: str,
    cpu: Callable[[], dict[str, float]],
) -> str:
    """Every phase; the report."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    post = f"{gw}/api/pods/failed"
    workload = generate(args.reports, seed=21)
    solutions = [render(r, diagnose(r)) for r in workload.reports]
    docs = record_docs(workload, solutions)
    template = [
        record_doc(i, r, s, datetime(2026, 1, 1))
        for i, (r, s) in enumerate(zip(workload.reports[:200], solutions[:200], strict=True))
    ]
    sizes = [int(x) for x in args.sizes.split(",")]
    sizes += [100_000] if args.large else []
    lines: list[str] = []
    say("warm-up ...")
    await post_load(post, auth, bodies_for(100, 1), 8, "warm-up")
    await post_load(f"{bare}/echo", auth, workload.messages[:200], 8, "warm-up")
    size_loads: list[tuple[int, Load]] = []
    say(f"stored {sizes[0]:,} ...")
    stored = await fill(mongo_url, db_name, sizes[0], template)
    size_loads.append(
        (stored, await post_load(post, auth, bodies_for(args.size_reports, 2), 8, "size"))
    )
    http: list[tuple[Load, Load]] = []
    used: dict[str, float] = {}
    for clients in (1, 8, 32):
        say(f"{clients} client(s) ...")
        count = args.reports if clients > 1 else args.reports // 2
        raw = await post_load(
            f"{bare}/echo", auth, workload.messages[:count], clients, f"bare POST, {clients}"
        )
        before = cpu()
        real = await post_load(
            post,
            auth,
            workload.messages[:count] if clients == 8 else bodies_for(count, 100 + clients),
            clients,
            f"POST /api/pods/failed, {clients} client(s)",
        )
        after = cpu()
        if clients == 32:
            used = {k: after[k] - before.get(k, 0.0) for k in after}
        http.append((raw, real))
    say("no stall: POSTs alone, then with 4 listers ...")
    stalled_at = await fill(mongo_url, db_name, 0, template)
    cookie, _ = login(gw)
    stalls = [
        await stall_run(f"{gw}{path}", cookie, post, auth, args.size_reports, seed, cpu)
        for path, seed in (("/api/pods/failed", 7), ("/api/security/findings?limit=1000", 9))
    ]
    say("raw insert_many ...")
    insert, server = await raw_insert(mongo_url, docs)
    for size in sizes[1:]:
        say(f"stored {size:,} ...")
        stored = await fill(mongo_url, db_name, size, template)
        size_loads.append(
            (stored, await post_load(post, auth, bodies_for(args.size_reports, 3 + size), 8, "s"))
        )

    where = "on disk" if args.large or args.mongo_disk else "in memory"
    lines += machine_info(
        f"SecantusDB {version('secantusdb')} ({where}, {server}), aiohttp {version('aiohttp')} "
        f"clients in the bench process, uvicorn {version('uvicorn')} one worker"
    )
    mean = sum(len(b) for b in workload.messages) / len(workload.messages)
    lines.append(f"reports   {args.reports} per phase, {mean / 1024:.1f} KB average, 20 % repeats")
    lines.append("")
    lines.append(f"{'':<44} {'rate':>14}  {'p50':>10}  {'p99':>10}")
    for raw, real in http:
        lines.append(raw.line())
        lines.append(real.line())
    lines.append(f"{insert.label:<44} {insert.rate:8.1f} docs/s")
    reqs = len(http[-1][1].latencies)
    lines.append(
        "CPU ms per report at 32 clients: "
        + ", ".join(
            f"{k} {v / reqs * 1000:.1f}"
            for k, v in sorted(used.items(), key=lambda kv: -kv[1])
            if v > 0.01
        )
    )
    lines.append("")
    for raw, real in http:
        lines.append(
            ratio_line(
                f"POST / bare POST, {real.clients} client(s)",
                real.rate / raw.rate,
                "bare is {inverse:,.1f}x faster",
            )
        )
    for _, real in http:
        lines.append(
            ratio_line(
                f"POST / raw insert_many, {real.clients} client(s)",
                real.rate / insert.rate,
                "insert_many is {inverse:,.1f}x faster",
            )
        )
    lines.append("")
    base = size_loads[0][1]
    for stored_n, load in size_loads:
        cost = load.seconds / len(load.latencies) * 1000
        lines.append(
            f"stored {stored_n:>7,}: {cost:6.2f} ms/report at 8 clients, p99 "
            f"{load.pct(0.99) * 1000:6.1f} ms  ({load.seconds / base.seconds:.2f}x the first)"
        )
    lines.append("")
    lines.append(f"no stall, {stalled_at:,} records stored, {LISTERS} clients listing page 1")
    for stall in stalls:
        lines += stall.lines()
    return "\n".join(lines)


@dataclass
class StallRun:
    """POSTs alone, then the same number with 4 clients listing one page meanwhile."""

    path: str
    alone: Load
    busy: Load
    listed: Counter[int]
    list_took: list[float]
    alone_cpu: dict[str, float]
    busy_cpu: dict[str, float]

    def lines(self) -> list[str]:
        """The phase's report lines."""
        answers = ", ".join(f"{n} answered {s}" for s, n in sorted(self.listed.items()))
        took = sorted(self.list_took) or [0.0]
        kind = "findings" if "security" in self.path else "failed pods"
        label = "no stall: POST p99 with listers / alone"
        return [
            self.alone.line(),
            self.busy.line() + f"  (lists: {answers})",
            f"{'GET ' + self.path + ' meanwhile':<44} "
            f"p50 {took[len(took) // 2] * 1000:7.1f} ms  max {took[-1] * 1000:7.1f} ms",
            "CPU ms per listing answered, beyond the POSTs' own (the same POSTs alone): "
            + _per_listing(self.alone_cpu, self.busy_cpu, sum(self.listed.values())),
            ratio_line(
                label if kind == "failed pods" else f"{label}, listing {kind}",
                self.busy.pct(0.99) / self.alone.pct(0.99),
                "{value:,.2f}x",
            ),
        ]


async def stall_run(
    url: str,
    cookie: str,
    post: str,
    auth: dict[str, str],
    reports: int,
    seed: int,
    cpu: Callable[[], dict[str, float]],
) -> StallRun:
    """POST ``reports`` reports from 8 clients alone, then as many again while
    :data:`LISTERS` clients GET ``url`` in a loop."""
    before = cpu()
    alone = await post_load(post, auth, bodies_for(reports, seed), 8, "POST alone")
    alone_cpu = cpu_delta(before, cpu())
    stop = asyncio.Event()
    list_took: list[float] = []
    listers = [
        asyncio.create_task(list_forever(url, cookie, stop, list_took)) for _ in range(LISTERS)
    ]
    before = cpu()
    try:
        busy = await post_load(post, auth, bodies_for(reports, seed + 1), 8, "POST with 4 listers")
    finally:
        stop.set()
    listed = sum(await asyncio.gather(*listers), Counter[int]())
    busy_cpu = cpu_delta(before, cpu())
    path = url[url.index("/api") :]
    return StallRun(path, alone, busy, listed, list_took, alone_cpu, busy_cpu)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--reports", type=int, default=1000, help="reports per client phase")
    parser.add_argument("--size-reports", type=int, default=300, help="reports per size phase")
    parser.add_argument("--sizes", default="1000,10000", help="stored records to measure at")
    parser.add_argument(
        "--large",
        action="store_true",
        help="also measure at 100 k stored (implies --mongo-disk: 100 k records overflow "
        "SecantusDB's in-memory cache)",
    )
    parser.add_argument(
        "--mongo-disk", action="store_true", help="SecantusDB on disk instead of in memory"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
    token = secrets.token_urlsafe(24)

    def body(stack: Stack) -> str:
        storage = stack.root / "mongo" if args.large or args.mongo_disk else None
        servers = own_servers(stack, storage)
        mongo_url = servers.mongo_url
        env = servers.env(db_name, token)
        services = stack.start_services(env, SERVICES)
        bare = start_bare_app(stack, "bare")
        bare.wait()
        say(f"servers and services up; measuring (logs in {stack.logs}) ...")
        return asyncio.run(
            measure(
                args,
                f"http://127.0.0.1:{services.ports['gateway']}",
                f"http://127.0.0.1:{bare.port}",
                token,
                mongo_url,
                db_name,
                stack.cpu,
            )
        )

    return common.run("kubeward-bench-fhttp-", body)


if __name__ == "__main__":
    sys.exit(main())
