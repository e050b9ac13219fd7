"""Failure-analysis benchmark: Kure report → ingest → failure-analyzer → MongoDB → feed, end to end.

Run by ``make bench`` (``uv run --no-sync python -m bench.failures [--reports N]`` from the
repository root; ``--help`` lists every option).

It starts its own nats-server (JetStream in a temporary directory) and SecantusDB on free
ports (``BENCH_MONGODB_URL`` points it at a MongoDB of yours instead; NATS is always its
own, because it deletes every stream between runs), then the ``ingest`` and
``failure_analyzer`` services as processes. No LLM is configured, so the solutions are the
offline analyzers' and no diagnosis job is queued (the run checks that none was).

It generates N realistic Kure failed-pod reports of mixed kinds (CrashLoopBackOff with
application logs, some with the agent's gzip+base64 ``failure_logs``, ImagePullBackOff,
OOMKilled, FailedScheduling, FailedMount, CreateContainerConfigError, init containers that
never finish) about many distinct pods; ~``--repeat-share`` of them are repeat reports of a
pod reported before. Each report is one JetStream message on
``kubeward.collect.pod-failures``, as the Kure agent publishes it, sent pipelined with
``publish_async``; every PubAck is checked. A repeat report updates the pod's open record
and, like a first report, publishes a ``pod_failure`` feed event (failure-analyzer's
``ReportHandler`` publishes one for every report that is not a redelivered duplicate), so
the run is timed from the first publish until ``FEED`` holds N events on
``kubeward.feed.pod_failure``; then MongoDB must hold one record per distinct pod and
``sum(report_count) == N``.

The pipeline runs twice, each from a clean state (every stream of the server deleted, so
fresh streams and durables, and a fresh MongoDB database): with ``OFFLINE_DIAGNOSIS=false``
(the bare pipeline: store and announce) and as deployed (offline diagnosis on every
report). In the same run it measures the raw limits: JetStream publish of the same
messages to a scratch stream without consumers, MongoDB ``insert_many`` of one document per
report shaped like failure-analyzer's records, and the offline analyzers alone, in this
process (``diagnose`` + ``render`` on the same reports, CPU only). It prints reports/s for
each, the ratios, and the CPU seconds every process used during each pipeline run; it never
asserts a timing.

Every process it starts is stopped on exit, error, Ctrl-C or SIGTERM (see
:mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext
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
    last_seq,
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
from kubeward.devstack.failure_reports import NAMESPACES, Workload, generate
from kubeward.failure_analyzer.diagnosis import diagnose, render
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    PodFailureReport,
)

SERVICES = ("ingest", "failure_analyzer")
RECORDS = "pod_failures"
"""failure-analyzer's collection: one record per failure of a pod."""
INGEST_DURABLE = f"{bus.CONSUMER_INGEST}-pod-failures"
ANALYZER_DURABLE = f"{bus.CONSUMER_FAILURE_ANALYZER}-reports"
POD_FAILURE_SUBJECT = bus.feed_subject("pod_failure")

MONGO_BATCH = 1000
"""Documents per ``insert_many`` (records are several KB; 16 MB is a MongoDB message)."""
POLL_INTERVAL = 0.2
SETTLE = 10.0
"""Seconds the feed may lag once both services have acked all their input."""

RATIO_PUBLISH = "pipeline / raw JetStream publish"
RATIO_INSERT = "pipeline / raw MongoDB insert_many"
RATIO_ANALYZERS = "pipeline / offline analyzers alone"
RATIO_DIAGNOSIS = "pipeline with diagnosis / without"
RATIO_BARE_INSERT = "pipeline without diagnosis / raw insert_many"
NO_LLM = "no LLM configured: solutions are the offline analyzers' only"


# --- Raw limits ---------------------------------------------------------------


@dataclass
class Analyzers:
    """The offline analyzers alone over the workload, in this process."""

    figure: Figure
    cpu: float
    """CPU seconds this process used for them."""
    solutions: list[str]
    primary: Counter[str]
    """Reports by the analyzer of the primary finding (``(none)`` when nothing matched)."""


def analyzers_alone(workload: Workload) -> Analyzers:
    """``diagnose`` + ``render`` on every report (decoded already), timed wall and CPU."""
    solutions: list[str] = []
    primary: Counter[str] = Counter()
    cpu = time.process_time()
    started = time.perf_counter()
    for report in workload.reports:
        diagnosis = diagnose(report)
        solutions.append(render(report, diagnosis))
        primary[diagnosis.primary.analyzer if diagnosis.primary else "(none)"] += 1
    seconds = time.perf_counter() - started
    figure = Figure(
        "offline analyzers alone (diagnose + render, in-process)",
        len(workload.reports),
        seconds,
        unit="reports",
    )
    return Analyzers(figure, time.process_time() - cpu, solutions, primary)


_REPORT_FIELDS = tuple(f for f in PodFailureReport.__struct_fields__ if f not in ("pod_name",))


def record_doc(index: int, report: PodFailureReport, solution: str, seen: datetime) -> Document:
    """A document shaped like a failure-analyzer record (written without its indexes)."""
    return {
        "_id": index + 1,
        "open_key": f"{report.namespace}/{report.pod_name}#{index}",
        **{name: msgspec.to_builtins(getattr(report, name)) for name in _REPORT_FIELDS},
        "pod_name": report.pod_name,
        "solution": solution,
        "solution_source": "offline",
        "analyzer": None,
        "llm_error": None,
        "first_seen": seen,
        "last_seen": seen,
        "report_count": 1,
        "report_seq": index + 1,
        "applied": [f"{index + 1}:0"],
        "status": "new",
        "dismissed": False,
        "resolved_at": None,
        "status_changed_at": seen,
    }


def record_docs(workload: Workload, solutions: Sequence[str]) -> list[Document]:
    """One record-shaped document per report, for the raw insert limit."""
    seen = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return [
        record_doc(i, r, s, seen)
        for i, (r, s) in enumerate(zip(workload.reports, solutions, strict=True))
    ]


async def raw_insert(mongo_url: str, docs: Sequence[Document]) -> tuple[Figure, str]:
    """``insert_many`` of the record-shaped documents, 1k per call, unordered; returns it and
    a description of the MongoDB server."""
    label = f"raw MongoDB insert_many ({MONGO_BATCH // 1000}k/call, unordered, no indexes)"
    return await on_scratch_db(
        mongo_url, lambda col: insert_many_limit(col, docs, MONGO_BATCH, label, "docs")
    )


# --- The pipeline -------------------------------------------------------------


@dataclass
class PipelineRun:
    """One end-to-end run, timings in seconds from the first publish."""

    label: str
    total: float = 0.0
    published: float = 0.0
    drain: Drain = field(
        default_factory=lambda: Drain(
            INGEST_DURABLE, bus.FAILURES.name, ANALYZER_DURABLE, "failure-analyzer"
        )
    )
    """When ingest and failure-analyzer had acked everything; FAILURES batches forwarded."""
    records: int = 0
    report_count: int = 0
    deadletter: int = 0
    diagnose_jobs: int = 0
    analyzers: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process used during the run."""
    redelivered: dict[str, int] = field(default_factory=dict)
    """Redelivered messages still unacked at the end (JetStream forgets acked ones)."""

    def figure(self, reports: int) -> Figure:
        """The run as a rate."""
        return Figure(self.label, reports, self.total, unit="reports")


async def _records(db: AsyncDatabase[Document]) -> tuple[int, int, Counter[str]]:
    """(records, sum of report_count, records by analyzer) in ``pod_failures``."""
    cursor = await db[RECORDS].aggregate(
        [{"$group": {"_id": "$analyzer", "n": {"$sum": 1}, "reports": {"$sum": "$report_count"}}}]
    )
    records = reports = 0
    by_analyzer: Counter[str] = Counter()
    for row in await cursor.to_list():
        records += int(row["n"])
        reports += int(row["reports"])
        by_analyzer[row["_id"] or "(none)"] += int(row["n"])
    return records, reports, by_analyzer


async def pipeline(
    label: str,
    nats_url: str,
    mongo_url: str,
    db_name: str,
    workload: Workload,
    in_flight: int,
    timeout: float,
    cpu: Callable[[], dict[str, float]],
) -> PipelineRun:
    """Publish the workload to COLLECT; wait until FEED holds a ``pod_failure`` per report.

    Every 0.2 s the consumers' states and the feed's subject count are read from JetStream
    (cheap; nothing is read from MongoDB until the end). The run ends at the stream time of
    the last ``pod_failure`` event (the server's clock, same host), not at the poll that
    saw it; CPU seconds are read at that poll.
    """
    run = PipelineRun(label)
    n = len(workload.messages)
    async with nats_client(nats_url, "bench-publisher") as nc, mongo_client(mongo_url) as client:
        js = nc.jetstream(publish_async_max_pending=in_flight)
        before = cpu()
        started_wall = time.time()
        publisher = Publisher(
            js, bus.COLLECT_POD_FAILURES, bus.COLLECT.name, workload.messages, timeout
        )
        async with publisher:
            await _wait(run, js, publisher, n, timeout, started_wall, before, cpu)
        run.published = publisher.published
        await _check(run, js, client[db_name], workload)
        return run


async def _wait(
    run: PipelineRun,
    js: JetStreamContext,
    publisher: Publisher,
    n: int,
    timeout: float,
    started_wall: float,
    before: dict[str, float],
    cpu: Callable[[], dict[str, float]],
) -> None:
    """Poll until FEED holds ``n`` pod_failure events; fill in the run's timings."""
    started = publisher.started
    deadline = started + timeout
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        publisher.check()  # a failed publish ends the run here
        events = await subject_count(js, bus.FEED.name, POD_FAILURE_SUBJECT)
        now = time.perf_counter() - started
        if events >= n:
            after = cpu()
            run.cpu = cpu_delta(before, after)
            if events > n:
                raise BenchError(f"{events} pod_failure events for {n} reports")
            # The stream's own time of the last event, not the poll's (same host).
            last = await js.get_last_msg(bus.FEED.name, POD_FAILURE_SUBJECT)
            stamped = last.time.timestamp() - started_wall if last.time else now
            run.total = stamped if 0 < stamped <= now else now
            return
        consumers = await run.drain.poll(js, publisher.last, now)
        run.samples.append(f"t={now:6.1f}s {consumers}  pod_failure events={events}")
        if run.drain.service is not None and now - run.drain.service > SETTLE:
            raise BenchError(
                f"both services acked everything, yet FEED holds {events} pod_failure "
                f"events for {n} reports\n  " + "\n  ".join(run.samples[-8:])
            )
        if time.perf_counter() > deadline:
            raise BenchError(
                f"{events} of {n} pod_failure events within {timeout:.0f}s\n  "
                + "\n  ".join(run.samples[-8:])
            )


async def _check(
    run: PipelineRun, js: JetStreamContext, db: AsyncDatabase[Document], workload: Workload
) -> None:
    """Read the end state (records, dead letters, diagnose jobs, redeliveries) and check it."""
    n = len(workload.messages)
    drain = run.drain
    if drain.service is None:
        drain.service = run.total  # the last feed event comes before the ack
    if drain.ingest is None:
        drain.ingest = run.total
        drain.forwarded = await last_seq(js, bus.FAILURES.name)
    run.records, run.report_count, run.analyzers = await _records(db)
    run.deadletter = await stream_messages(js, bus.DEADLETTER.name)
    run.diagnose_jobs = await subject_count(js, bus.FAILURES.name, bus.FAILURES_DIAGNOSE)
    run.redelivered = await redeliveries(js, drain.durables)
    if run.records != workload.distinct or run.report_count != n:
        raise BenchError(
            f"{n} pod_failure events, yet {RECORDS} holds {run.records} records for "
            f"{workload.distinct} pods and sum(report_count)={run.report_count} for {n} "
            "reports"
        )
    if run.deadletter:
        raise BenchError(f"{run.deadletter} messages went to {bus.DEADLETTER.name}")
    if run.diagnose_jobs:
        raise BenchError(f"{run.diagnose_jobs} LLM diagnose jobs queued without an LLM")


async def reset(nats_url: str, mongo_url: str, db_name: str) -> None:
    """Delete every stream of this run's own NATS server and drop ``db_name``."""
    async with nats_client(nats_url, "bench-reset") as nc:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
        async with mongo_client(mongo_url) as client:
            await client.drop_database(db_name)


# --- Report -------------------------------------------------------------------


def report(
    header: list[str],
    workload: Workload,
    publish: Figure,
    insert: Figure,
    analyzers: Analyzers,
    bare: PipelineRun,
    full: PipelineRun,
) -> str:
    """The table: workload, every figure in reports/s, per-process CPU, the ratios."""
    n = len(workload.reports)
    pct = 100.0 / n
    kinds = ", ".join(f"{kind} {count * pct:.0f} %" for kind, count in workload.kinds.most_common())
    lines = [*header, f"LLM       {NO_LLM} (diagnose jobs queued: {full.diagnose_jobs})", ""]
    lines.append(
        f"workload  N={n} reports, one per message on {bus.COLLECT_POD_FAILURES}, about "
        f"{workload.distinct} distinct pods in {len(NAMESPACES)} namespaces; "
        f"{workload.repeats} repeat reports ({workload.repeats * pct:.1f} %) update an open "
        "record and publish pod_failure too"
    )
    lines.append(
        f"          mean report {workload.payload_bytes / n / 1024:.1f} KiB; by report: {kinds}; "
        f"{workload.with_failure_logs} carry gzip+base64 failure_logs"
    )
    figures = [publish, insert, analyzers.figure, bare.figure(n), full.figure(n)]
    lines += ["", f"{'measurement':<66}{'reports/s':>11}{'seconds':>9}"]
    lines.append("-" * 86)
    for fig in figures:
        unit = "" if fig.unit == "reports" else f" ({fig.unit}/s)"
        lines.append(f"{fig.label + unit:<66}{fig.rate:>11,.0f}{fig.seconds:>9.2f}")
    for run in (bare, full):
        lines.append(f"  {run.label}:")
        lines.append(
            f"    all {n} PubAcks after {run.published:.2f} s; ingest acked all of COLLECT by "
            f"{run.drain.ingest or 0:.1f} s ({run.drain.forwarded} FAILURES batches); "
            f"failure-analyzer acked all by {run.drain.service or 0:.1f} s"
        )
        lines.append(
            f"    FEED: {n} pod_failure events; {RECORDS}: {run.records} records, "
            f"sum(report_count)={run.report_count}; dead letters {run.deadletter}; "
            "redeliveries unacked " + ", ".join(f"{d} {c}" for d, c in run.redelivered.items())
        )
        lines.append(f"    CPU seconds ({run.total:.1f} s wall): {cpu_line(run.cpu)}")
        fa = run.cpu.get("failure_analyzer", 0.0)
        lines.append(
            f"    CPU per report: failure_analyzer {ms_per(fa, n)}, ingest "
            f"{ms_per(run.cpu.get('ingest', 0.0), n)}, secantusdb "
            f"{ms_per(run.cpu.get('secantusdb', 0.0), n)}"
        )
    extra = full.cpu.get("failure_analyzer", 0.0) - bare.cpu.get("failure_analyzer", 0.0)
    lines.append(
        f"  offline analyzers alone: {ms_per(analyzers.cpu, n)} CPU per report in this "
        f"process; failure-analyzer used {ms_per(extra, n)} more per report with "
        "diagnosis than without"
    )
    top = ", ".join(f"{name} {count}" for name, count in full.analyzers.most_common(8))
    lines.append(f"  records by analyzer (with diagnosis; the last report of each pod): {top}")
    alone = ", ".join(f"{name} {count}" for name, count in analyzers.primary.most_common(8))
    lines.append(f"  reports by primary analyzer (analyzers alone): {alone}")

    lines += ["", "ratios (same run, same machine; reports/s)"]
    full_rate, bare_rate = full.figure(n).rate, bare.figure(n).rate
    raw_note = "raw is {inverse:,.1f}x faster"
    lines.append(ratio_line(RATIO_PUBLISH, full_rate / publish.rate, raw_note))
    lines.append(ratio_line(RATIO_INSERT, full_rate / insert.rate, raw_note))
    lines.append(
        ratio_line(
            RATIO_ANALYZERS,
            full_rate / analyzers.figure.rate,
            "analyzers alone are {inverse:,.1f}x faster",
        )
    )
    lines.append(
        ratio_line(RATIO_DIAGNOSIS, full_rate / bare_rate, "without is {inverse:.2f}x faster")
    )
    lines.append(ratio_line(RATIO_BARE_INSERT, bare_rate / insert.rate, raw_note))
    lines.append(
        f"  (offline analyzers alone: {analyzers.figure.rate:,.0f} reports/s on one core; "
        "'pipeline' is the deployed setup, with diagnosis)"
    )
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = pipeline_parser(__doc__, "reports", 5000, "reports", in_flight=1000, seed=11)
    parser.add_argument(
        "--repeat-share", type=float, default=0.2, help="share of reports about a pod seen before"
    )
    args = parser.parse_args(argv)
    if args.reports < 1 or args.in_flight < 1:
        parser.error("--reports and --in-flight must be positive")
    if not 0 <= args.repeat_share < 1:
        parser.error("--repeat-share must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    timeout = args.timeout or 60.0 + args.reports / 20
    given_mongo = os.environ.get("BENCH_MONGODB_URL", "")
    say(f"generating {args.reports} reports ...")
    workload = generate(args.reports, args.repeat_share, args.seed)
    say("offline analyzers alone (in this process) ...")
    analyzers = analyzers_alone(workload)

    def body(stack: Stack) -> str:
        nats_url = own_nats(stack)
        fresh_mongo = FreshMongo(stack, given_mongo, disk=args.mongo_disk)
        say("raw JetStream publish and MongoDB insert_many ...")
        publish = asyncio.run(
            publish_limit(
                nats_url,
                args.in_flight,
                workload.messages,
                timeout,
                "raw JetStream publish (publish_async, no consumer)",
                "reports",
            )
        )
        insert, mongo_desc = asyncio.run(
            raw_insert(fresh_mongo(), record_docs(workload, analyzers.solutions))
        )
        runs: list[PipelineRun] = []
        settings_secret = "bench-settings-" + uuid.uuid4().hex
        for diagnosis in (False, True):
            label = (
                "pipeline with offline diagnosis (as deployed)"
                if diagnosis
                else "pipeline without diagnosis (OFFLINE_DIAGNOSIS=false)"
            )
            db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
            mongo_url = fresh_mongo()
            env = service_env(
                nats_url,
                mongo_url,
                db_name,
                SETTINGS_SECRET=settings_secret,
                OFFLINE_DIAGNOSIS="true" if diagnosis else "false",
            )
            stack.start_services(env, SERVICES)
            say(f"{label}: services up (logs in {stack.logs}) ...")
            runs.append(
                asyncio.run(
                    pipeline(
                        label,
                        nats_url,
                        mongo_url,
                        db_name,
                        workload,
                        args.in_flight,
                        timeout,
                        stack.cpu,
                    )
                )
            )
            stack.stop_services()
            asyncio.run(reset(nats_url, mongo_url, db_name))  # the next run starts clean
        header = machine_info(pipeline_versions(fresh_mongo, mongo_desc))
        return report(header, workload, publish, insert, analyzers, runs[0], runs[1])

    return common.run(
        "kubeward-bench-fail-", body, me="bench (publisher)", scratch=("jetstream", "mongo")
    )


if __name__ == "__main__":
    sys.exit(main())
