"""Security-scanner benchmark: manifests scanned per second, a mixed set of 1000 workloads.

Run by ``make bench`` (``uv run --no-sync python -m bench.security [--workloads N]`` from
the repository root; ``--help`` lists every option).

It generates N realistic workloads, deterministically (``--seed``): Deployments,
StatefulSets, DaemonSets, Jobs, CronJobs and bare Pods, with the Services, Ingresses,
ServiceAccounts, Roles, ClusterRoles and bindings that come with them, and each Namespace
(with a default-deny NetworkPolicy in about half of them) sent along with the first
workload in it. About 30 % are hardened, 45 % typical (pinned tags from the organisation's
own registries, some limits or probes missing, the default service account) and 25 % carry
the usual problems (privileged, hostPath, host namespaces, added capabilities, ``latest``
tags, images from strangers on Docker Hub, credentials in env, RBAC wildcards, bindings to
cluster-admin). A quarter are sent as the Python client's ``to_dict()`` (snake_case), as
the Kure agent sends them; the rest in the usual camelCase.

It measures, in one run:

1. the built-in scanner alone, in this process: ``scan`` over every object at once with
   ``DEFAULT_TRUSTED_REGISTRIES`` (and once per workload, as the service calls it), and
   ``parse_manifests`` of each workload as YAML text (median of 3 passes each);
2. the pipeline: nats-server and a fresh SecantusDB, the ``ingest`` and ``security``
   services as processes; one JSON message per workload (an array of its objects) on
   ``kubeward.collect.manifests``, pipelined with ``publish_async``, every PubAck checked;
   timed until security's durable ``security-manifests`` on ``SECURITY`` has acked every
   batch ingest forwarded and ``security_findings`` holds one record per distinct finding
   key of the in-process scan (no exclusions are configured, so none is left out);
3. the raw limits: JetStream publish of the same messages to a scratch stream without
   consumers, and MongoDB ``insert_many`` of documents shaped like the stored findings.

It prints objects/s for each, the ratios, CPU seconds per process and the findings by check
and by severity; it never asserts a timing. Every process it starts is stopped on exit,
error, Ctrl-C or SIGTERM (see :mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js import JetStreamContext
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from bench import common
from bench.common import (
    BenchError,
    Document,
    Drain,
    Figure,
    FreshMongo,
    Publisher,
    Stack,
    cpu_delta,
    cpu_line,
    insert_many_limit,
    machine_info,
    mongo_client,
    ms_per,
    nats_client,
    on_scratch_db,
    own_nats,
    pipeline_parser,
    pipeline_versions,
    publish_limit,
    ratio_line,
    redeliveries,
    say,
    service_env,
    stream_messages,
    subject_count,
)
from kubeward.devstack.k8s_workloads import Workload, generate
from kubeward.schemas import bus
from kubeward.schemas.security import SEVERITIES, finding_key
from kubeward.security.scanner import DEFAULT_TRUSTED_REGISTRIES, Finding, parse_manifests, scan
from kubeward.security.scanning import fields_of

SERVICES = ("ingest", "security")
FINDINGS = "security_findings"
"""security's collection: one record per finding key."""
MANIFESTS = "security_manifests"
INGEST_DURABLE = f"{bus.CONSUMER_INGEST}-manifests"
SECURITY_DURABLE = f"{bus.CONSUMER_SECURITY}-manifests"
FINDING_EVENT = bus.feed_subject("security_finding")

MONGO_BATCH = 1000
POLL_INTERVAL = 0.2
SETTLE = 10.0
"""Seconds MongoDB may lag once security has acked everything (it should not at all)."""
PASSES = 3
"""In-process measurements are the median of this many passes."""

RATIO_PUBLISH = "pipeline / raw JetStream publish"
RATIO_INSERT = "pipeline / raw MongoDB insert_many"
RATIO_SCANNER = "pipeline / scanner alone"
RATIO_PARSE = "parse_manifests (YAML) / scanner alone"


# --- The scanner alone --------------------------------------------------------


def key_of(finding: Finding) -> str:
    """The finding's record key, as security stores it."""
    return finding_key(
        finding.resource_type,
        finding.namespace,
        finding.resource_name,
        finding.check,
        dict(finding.details),
    )


@dataclass
class Alone:
    """The scanner and the parser alone over the workload, in this process."""

    scan_all: Figure
    scan_each: Figure
    parse: Figure
    scan_cpu: float
    findings: list[Finding]
    """Findings of one ``scan`` over every object."""
    expected: dict[str, Finding]
    """The records security should store: the last finding per finding key."""


def _median_pass(run: Callable[[], object]) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of :data:`PASSES` calls."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(PASSES):
        cpu = time.process_time()
        started = time.perf_counter()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def scanner_alone(workload: Workload) -> Alone:
    """``scan`` over every object at once and per workload; ``parse_manifests`` per workload.

    Checks that both scans raise the same findings and that every YAML text parses back to
    the objects sent (the message and the YAML carry the same workload).
    """
    flat = workload.flat
    trusted = DEFAULT_TRUSTED_REGISTRIES
    findings = scan(flat, trusted_registries=trusted)
    per_workload = [f for objs in workload.objects for f in scan(objs, trusted_registries=trusted)]
    if Counter(map(key_of, findings)) != Counter(map(key_of, per_workload)):
        raise BenchError("scanning per workload raised other findings than scanning all at once")
    for index, text in enumerate(workload.yaml_texts):
        if parse_manifests(text) != workload.objects[index]:
            raise BenchError(f"workload {index}: its YAML does not parse back to its objects")
    n = len(flat)
    seconds, cpu = _median_pass(lambda: scan(flat, trusted_registries=trusted))
    each, _ = _median_pass(
        lambda: [scan(objs, trusted_registries=trusted) for objs in workload.objects]
    )
    parse, _ = _median_pass(lambda: [parse_manifests(t) for t in workload.yaml_texts])
    expected = {key_of(f): f for f in findings}
    return Alone(
        Figure("scanner alone: scan() over all objects at once, in-process", n, seconds, "objects"),
        Figure(
            "scanner per workload: scan() once per message, as security calls it",
            n,
            each,
            "objects",
        ),
        Figure("parse_manifests of each workload's YAML text, in-process", n, parse, "objects"),
        cpu,
        findings,
        expected,
    )


# --- Raw limits ---------------------------------------------------------------


def _finding_doc(index: int, key: str, finding: Finding, seen: datetime) -> Document:
    """A document shaped like security's finding record (written without its indexes)."""
    return {
        "_id": index + 1,
        "key": key,
        **fields_of(finding),
        "first_seen": seen,
        "last_seen": seen,
        "dismissed": False,
    }


async def raw_insert(mongo_url: str, expected: dict[str, Finding]) -> tuple[Figure, str]:
    """``insert_many`` of one finding-shaped document per expected record, 1k per call;
    returns it and a description of the MongoDB server."""
    seen = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    docs = [_finding_doc(i, k, f, seen) for i, (k, f) in enumerate(expected.items())]
    label = f"raw MongoDB insert_many of finding records ({MONGO_BATCH // 1000}k/call, no indexes)"
    return await on_scratch_db(
        mongo_url, lambda col: insert_many_limit(col, docs, MONGO_BATCH, label, "findings")
    )


# --- The pipeline -------------------------------------------------------------


@dataclass
class PipelineRun:
    """The end-to-end run, timings in seconds from the first publish."""

    total: float = 0.0
    published: float = 0.0
    drain: Drain = field(
        default_factory=lambda: Drain(
            INGEST_DURABLE, bus.SECURITY.name, SECURITY_DURABLE, "security"
        )
    )
    """When ingest and security had acked everything; ``kubeward.security.manifests``
    messages ingest forwarded."""
    records: int = 0
    manifests: int = 0
    feed_events: int = 0
    deadletter: int = 0
    by_check: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process used during the run."""
    redelivered: dict[str, int] = field(default_factory=dict)
    """Redelivered messages still unacked at the end (JetStream forgets acked ones)."""


async def _counts(db: AsyncDatabase[Document]) -> tuple[Counter[str], Counter[str]]:
    """Stored findings by check and by severity."""
    cursor = await db[FINDINGS].aggregate(
        [{"$group": {"_id": {"c": "$check_name", "s": "$severity"}, "n": {"$sum": 1}}}]
    )
    by_check: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    for row in await cursor.to_list():
        by_check[str(row["_id"]["c"])] += int(row["n"])
        by_severity[str(row["_id"]["s"])] += int(row["n"])
    return by_check, by_severity


async def _last_write(db: AsyncDatabase[Document]) -> datetime | None:
    """The newest ``last_seen`` of a finding or ``updated_at`` of a manifest (naive UTC)."""
    times = []
    for col, name in ((FINDINGS, "last_seen"), (MANIFESTS, "updated_at")):
        doc = await db[col].find_one({}, {name: 1}, sort=[(name, DESCENDING)])
        if doc is not None and isinstance(doc.get(name), datetime):
            times.append(doc[name])
    return max(times) if times else None


async def _mismatch(db: AsyncDatabase[Document], expected: dict[str, Finding]) -> str:
    """Which expected records are missing and which stored ones were not expected."""
    stored = {str(d["key"]) async for d in db[FINDINGS].find({}, {"key": 1})}
    missing = sorted(set(expected) - stored)
    extra = sorted(stored - set(expected))
    return (
        f"{len(missing)} expected records missing (e.g. {missing[:3]}), {len(extra)} "
        f"unexpected (e.g. {extra[:3]})"
    )


async def pipeline(
    nats_url: str,
    mongo_url: str,
    db_name: str,
    workload: Workload,
    expected: dict[str, Finding],
    in_flight: int,
    timeout: float,
    cpu: Callable[[], dict[str, float]],
) -> PipelineRun:
    """Publish the workload to COLLECT; wait until security has acked every manifest batch
    and ``security_findings`` holds every expected record.

    Every 0.2 s the consumers' states are read from JetStream; MongoDB is counted once
    security has acked all ingest forwarded (its handler stores a batch before the ack).
    The run ends at the newest write security made (its clock, same host), not at the poll
    that saw it; CPU seconds are read at that poll.
    """
    run = PipelineRun()
    async with nats_client(nats_url, "bench-publisher") as nc, mongo_client(mongo_url) as client:
        db = client[db_name]
        js = nc.jetstream(publish_async_max_pending=in_flight)
        before = cpu()
        started_wall = time.time()
        publisher = Publisher(
            js, bus.COLLECT_MANIFESTS, bus.COLLECT.name, workload.messages, timeout
        )
        async with publisher:
            await _wait(
                run,
                js,
                db,
                publisher,
                len(workload.messages),
                expected,
                timeout,
                started_wall,
                before,
                cpu,
            )
        run.published = publisher.published
        run.by_check, run.by_severity = await _counts(db)
        run.manifests = await db[MANIFESTS].count_documents({})
        run.feed_events = await subject_count(js, bus.FEED.name, FINDING_EVENT)
        run.deadletter = await stream_messages(js, bus.DEADLETTER.name)
        run.redelivered = await redeliveries(js, run.drain.durables)
        if run.deadletter:
            raise BenchError(f"{run.deadletter} messages went to {bus.DEADLETTER.name}")
        return run


async def _wait(
    run: PipelineRun,
    js: JetStreamContext,
    db: AsyncDatabase[Document],
    publisher: Publisher,
    n: int,
    expected: dict[str, Finding],
    timeout: float,
    started_wall: float,
    before: dict[str, float],
    cpu: Callable[[], dict[str, float]],
) -> None:
    """Poll until security has acked everything and MongoDB holds every expected record;
    fill in the run's timings."""
    want = len(expected)
    started = publisher.started
    deadline = started + timeout
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        publisher.check()  # a failed publish ends the run here
        now = time.perf_counter() - started
        consumers = await run.drain.poll(js, publisher.last, now)
        records = -1
        if run.drain.service is not None:  # security stores a batch before its ack
            records = await db[FINDINGS].count_documents({})
            if records == want:
                after = cpu()
                run.cpu = cpu_delta(before, after)
                last = await _last_write(db)
                stamped = last.replace(tzinfo=UTC).timestamp() - started_wall if last else now
                run.total = stamped if 0 < stamped <= now else now
                return
        run.samples.append(f"t={now:6.1f}s {consumers}  records={records if records >= 0 else '?'}")
        if run.drain.service is not None and now - run.drain.service > SETTLE:
            raise BenchError(
                f"security acked every batch, yet {FINDINGS} holds {records} records "
                f"for {want} expected: {await _mismatch(db, expected)}\n  "
                + "\n  ".join(run.samples[-8:])
            )
        if time.perf_counter() > deadline:
            raise BenchError(
                f"security did not handle {n} workloads within {timeout:.0f}s\n  "
                + "\n  ".join(run.samples[-8:])
            )


# --- Report -------------------------------------------------------------------


def _us(seconds: float, count: int) -> str:
    return f"{seconds * 1e6 / max(1, count):,.0f} µs"


def report(
    header: list[str],
    workload: Workload,
    alone: Alone,
    publish: Figure,
    insert: Figure,
    run: PipelineRun,
) -> str:
    """The table: workload, every figure, per-process CPU, findings, the ratios."""
    n = len(workload.messages)
    objects = workload.object_count
    want = len(alone.expected)
    pct = 100.0 / n
    lines = [*header, ""]
    lines.append(
        f"workload  N={n} workloads, {objects} objects, one JSON message per workload on "
        f"{bus.COLLECT_MANIFESTS} (mean {workload.payload_bytes / n / 1024:.1f} KiB); "
        f"{workload.snake} ({workload.snake * pct:.0f} %) in the Python client's snake_case"
    )
    lines.append(
        "          workloads: "
        + ", ".join(f"{k} {c}" for k, c in workload.workload_kinds.most_common())
        + "; profiles: "
        + ", ".join(f"{k} {c * pct:.0f} %" for k, c in workload.profiles.most_common())
    )
    lines.append(
        "          objects: " + ", ".join(f"{k} {c}" for k, c in workload.kinds.most_common())
    )
    lines.append(
        f"          scan raises {len(alone.findings)} findings, {want} distinct finding keys "
        "(= records security stores); trusted registries: the default list"
    )
    pipe = Figure(
        "pipeline: publish -> ingest -> security -> MongoDB (all findings stored)",
        objects,
        run.total,
        "objects",
    )
    figures = [alone.parse, alone.scan_all, alone.scan_each, pipe, publish, insert]
    lines += ["", f"{'measurement':<78}{'rate':>18}{'seconds':>9}"]
    lines.append("-" * 105)
    for fig in figures:
        rate = f"{fig.rate:,.0f} {fig.unit}/s"
        lines.append(f"{fig.label:<78}{rate:>18}{fig.seconds:>9.3f}")
    lines.append(
        f"  pipeline = {n / run.total:,.1f} workloads/s, {want / run.total:,.0f} findings/s; "
        f"raw publish = {publish.rate * objects / n:,.0f} objects/s"
    )
    lines.append(
        f"  scanner alone: {_us(alone.scan_all.seconds, n)} per workload, "
        f"{_us(alone.scan_all.seconds, objects)} per object ({_us(alone.scan_cpu, n)} CPU per "
        f"workload); parse_manifests: {_us(alone.parse.seconds, n)} per workload; medians of "
        f"{PASSES} passes"
    )
    lines.append(
        f"  pipeline: all {n} PubAcks after {run.published:.2f} s; ingest acked all of COLLECT "
        f"by {run.drain.ingest or 0:.1f} s ({run.drain.forwarded} SECURITY batches); security "
        f"acked all by {run.drain.service or 0:.1f} s; {run.total:.1f} s to the last write"
    )
    lines.append(
        f"    {FINDINGS}: {run.records} records ({want} expected); {MANIFESTS}: {run.manifests}; "
        f"FEED security_finding events {run.feed_events}; dead letters {run.deadletter}; "
        "redeliveries unacked " + ", ".join(f"{d} {c}" for d, c in run.redelivered.items())
    )
    lines.append(f"    CPU seconds ({run.total:.1f} s wall): {cpu_line(run.cpu)}")
    lines.append(
        f"    CPU per workload: security {ms_per(run.cpu.get('security', 0.0), n)}, ingest "
        f"{ms_per(run.cpu.get('ingest', 0.0), n)}, secantusdb "
        f"{ms_per(run.cpu.get('secantusdb', 0.0), n)}, nats-server "
        f"{ms_per(run.cpu.get('nats-server', 0.0), n)}; per stored finding: security "
        f"{ms_per(run.cpu.get('security', 0.0), want)}, secantusdb "
        f"{ms_per(run.cpu.get('secantusdb', 0.0), want)}"
    )
    top = ", ".join(f"{check} {count}" for check, count in run.by_check.most_common(10))
    lines.append(f"  findings by check (top 10 of {len(run.by_check)}): {top}")
    severities = ", ".join(f"{s} {run.by_severity.get(s, 0)}" for s in SEVERITIES)
    lines.append(f"  findings by severity: {severities}")

    lines += ["", "ratios (same run, same machine; the same items per second)"]
    raw_note = "raw is {inverse:,.1f}x faster"
    pipe_seconds = run.total
    lines.append(
        ratio_line(RATIO_PUBLISH, publish.seconds / pipe_seconds, raw_note + ", workloads/s")
    )
    lines.append(ratio_line(RATIO_INSERT, insert.seconds / pipe_seconds, raw_note + ", findings/s"))
    lines.append(
        ratio_line(
            RATIO_SCANNER,
            alone.scan_all.seconds / pipe_seconds,
            "the scanner alone is {inverse:,.1f}x faster, objects/s",
        )
    )
    lines.append(
        ratio_line(
            RATIO_PARSE,
            alone.scan_all.seconds / alone.parse.seconds,
            "the scanner alone is {inverse:,.1f}x faster, objects/s",
        )
    )
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = pipeline_parser(__doc__, "workloads", 1000, "workloads", in_flight=1000, seed=7)
    args = parser.parse_args(argv)
    if args.workloads < 1 or args.in_flight < 1:
        parser.error("--workloads and --in-flight must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    # Generous: with security as it is, the run grows faster than linearly (see the README).
    timeout = args.timeout or 180.0 + args.workloads * 1.5
    say(f"generating {args.workloads} workloads ...")
    workload = generate(args.workloads, args.seed)
    say(f"scanner and parser alone over {workload.object_count} objects (in this process) ...")
    alone = scanner_alone(workload)

    def body(stack: Stack) -> str:
        nats_url = own_nats(stack)
        fresh_mongo = FreshMongo(
            stack, os.environ.get("BENCH_MONGODB_URL", ""), disk=args.mongo_disk
        )
        say("raw JetStream publish and MongoDB insert_many ...")
        publish = asyncio.run(
            publish_limit(
                nats_url,
                args.in_flight,
                workload.messages,
                timeout,
                "raw JetStream publish of the same messages (publish_async, no consumer)",
                "workloads",
            )
        )
        insert, mongo_desc = asyncio.run(raw_insert(fresh_mongo(), alone.expected))
        db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
        mongo_url = fresh_mongo()
        env = service_env(
            nats_url, mongo_url, db_name, SETTINGS_SECRET="bench-settings-" + uuid.uuid4().hex
        )
        stack.start_services(env, SERVICES)
        say(f"pipeline: services up (logs in {stack.logs}) ...")
        run = asyncio.run(
            pipeline(
                nats_url,
                mongo_url,
                db_name,
                workload,
                alone.expected,
                args.in_flight,
                timeout,
                stack.cpu,
            )
        )
        run.records = sum(run.by_check.values())
        stack.stop_services()
        header = machine_info(pipeline_versions(fresh_mongo, mongo_desc))
        return report(header, workload, alone, publish, insert, run)

    return common.run(
        "kubeward-bench-sec-", body, me="bench (publisher)", scratch=("jetstream", "mongo")
    )


if __name__ == "__main__":
    sys.exit(main())
