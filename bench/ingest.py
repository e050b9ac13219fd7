"""Pod-traffic ingest benchmark: collector → ingest → traffic-store → MongoDB, end to end.

Run by ``make bench`` (``uv run --no-sync python -m bench.ingest [--events N] [--batch B]
[--repeats 0,30,95] [--flows F]`` from the repository root).

It starts its own nats-server (JetStream in a temporary directory) and SecantusDB on free
ports, unless ``BENCH_NATS_URL`` / ``BENCH_MONGODB_URL`` point at servers you run yourself,
then the ``ingest`` and ``traffic_store`` services as processes. Neither service talks to
Redis, so no Redis is started; ``REDIS_URL`` is passed through from ``BENCH_REDIS_URL`` (or
the services' default) only because every service's settings carry it.

One scenario per repeat share (``--repeats``, default 0 %, 30 % and 95 %; ``--flows F``
sizes each by its distinct flows instead, up to 1 M behind that option): it generates N
realistic kguardian events, that share of them re-sightings of an earlier flow (picked
uniformly among the flows so far), publishes
them as JSON arrays of ``--batch`` events (as the kguardian controller batches) with
pipelined JetStream ``publish_async``, checks every PubAck, and times from the first
publish until MongoDB holds every event: ``sum(hits) == N`` and one document per distinct
flow in ``pod_traffic``.

In the same run it measures the raw limits of the same components: JetStream publish of
the same messages to a scratch stream without consumers (first scenario only), a raw pull
consumer on that stream, ``insert_many`` of similar documents (at least ``RAW_MIN_DOCS``)
and, as a diagnostic, one plain upsert per
flow (``$setOnInsert``/``$inc``/``$min``/``$max``) into a collection with traffic-store's
three indexes: the cheapest write an upsert-per-flow store can do. Each MongoDB measurement
(raw insert, raw upsert, the pipeline) gets a fresh SecantusDB: one that served an earlier
measurement, even with its database dropped, stays slower. It prints events/s for
each and the pipeline's ratio against each, plus the CPU seconds every process used during
the pipeline run (where the time goes); it never asserts a timing.

Every process it starts is stopped on exit, error, Ctrl-C or SIGTERM (see
:mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo import DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from bench import common
from bench.common import (
    SCRATCH_STREAM,
    SCRATCH_SUBJECT,
    BenchError,
    Document,
    Drain,
    Figure,
    FreshMongo,
    Publisher,
    Stack,
    binary_version,
    consumer_state,
    cpu_delta,
    cpu_line,
    insert_many_limit,
    machine_info,
    mongo_client,
    nats_client,
    on_scratch_db,
    own_nats,
    pipeline_parser,
    pipeline_versions,
    publish_all,
    ratio_line,
    redeliveries,
    scratch_stream,
    service_env,
    write_limit,
)
from kubeward.devstack.traffic_events import Workload, folded_key, generate
from kubeward.schemas import bus
from kubeward.schemas.traffic import PodTrafficEvent

SERVICES = ("ingest", "traffic_store")
POD_TRAFFIC = "pod_traffic"
"""traffic-store's collection: one document per deduplicated flow."""
INGEST_DURABLE = f"{bus.CONSUMER_INGEST}-pod-traffic"
STORE_DURABLE = f"{bus.CONSUMER_TRAFFIC_STORE}-pod"

MONGO_BATCH = 10_000
RAW_MIN_DOCS = 10_000
"""Documents the raw MongoDB writes store at least, whatever the workload's flows."""
DIAGNOSTIC_MIN_DOCS, DIAGNOSTIC_MAX_DOCS = 2_000, 20_000
"""Documents the diagnostic raw writes (indexed insert, upsert) store at least and at most:
a rate, not a size, is what they are for, and an upsert of 100 k flows alone would take
minutes (10 k: ~15 s)."""
FETCH_BATCH = 1000
POLL_INTERVAL = 0.5
SETTLE = 10.0
"""Seconds the stored totals may lag once both services have acked all their input."""

RATIO_PUBLISH = "pipeline / raw JetStream publish"
RATIO_PULL = "pipeline / raw JetStream pull"
RATIO_INSERT = "pipeline / raw MongoDB insert_many"
RATIO_UPSERT = "pipeline / raw MongoDB bulk upsert"
RATIO_INDEXED = "pipeline / raw MongoDB indexed insert"


# --- Measurements -------------------------------------------------------------


@dataclass
class PipelineRun:
    """Timings of the end-to-end run, in seconds from the first publish."""

    total: float = 0.0
    published: float = 0.0
    drain: Drain = field(
        default_factory=lambda: Drain(INGEST_DURABLE, bus.TRAFFIC.name, STORE_DURABLE, "store")
    )
    """When ingest and traffic-store had acked everything; TRAFFIC batches forwarded."""
    polls: int = 0
    aggregate_seconds: float = 0.0
    samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process used during the run."""
    redelivered: dict[str, int] = field(default_factory=dict)
    """Messages each service's consumer got more than once."""


async def raw_jetstream(
    nats_url: str, in_flight: int, workload: Workload, timeout: float
) -> tuple[Figure, Figure]:
    """Raw publish to a scratch stream without consumers, then a raw pull consumer on it."""
    async with nats_client(nats_url, "bench-raw") as nc:
        js = nc.jetstream(publish_async_max_pending=in_flight)
        async with scratch_stream(js):
            seconds, _last = await publish_all(
                js, SCRATCH_SUBJECT, SCRATCH_STREAM, workload.messages, timeout
            )
            publish = Figure(
                "raw JetStream publish (publish_async, no consumer)", workload.events, seconds
            )
            return publish, await _raw_pull(js, workload, timeout)


async def _raw_pull(js: JetStreamContext, workload: Workload, timeout: float) -> Figure:
    """A pull consumer on the scratch stream: fetch and ack every message."""
    config = ConsumerConfig(durable_name="bench-raw", ack_policy=AckPolicy.EXPLICIT)
    sub = await js.pull_subscribe(
        SCRATCH_SUBJECT, durable="bench-raw", stream=SCRATCH_STREAM, config=config
    )
    wanted, got = len(workload.messages), 0
    started = time.perf_counter()
    deadline = started + timeout
    while got < wanted:
        if time.perf_counter() > deadline:
            raise BenchError(f"raw pull: {got} of {wanted} messages within {timeout:.0f}s")
        try:
            msgs = await sub.fetch(FETCH_BATCH, timeout=5)
        except TimeoutError:
            continue
        for msg in msgs:
            await msg.ack()
        got += len(msgs)
    seconds = time.perf_counter() - started
    await sub.unsubscribe()
    return Figure(f"raw JetStream pull (fetch {FETCH_BATCH} + ack)", workload.events, seconds)


def _flow_doc(event: PodTrafficEvent) -> Document:
    key = "|".join(folded_key(event))
    return {
        "_id": key,
        **msgspec.structs.asdict(event),
        "first_seen": event.time_stamp,
        "last_seen": event.time_stamp,
        "hits": 1,
    }


def raw_flows(workload: Workload, minimum: int = RAW_MIN_DOCS) -> list[PodTrafficEvent]:
    """The flows the raw MongoDB writes store: the workload's distinct flows, repeated with
    a marked pod IP up to ``minimum`` when it has fewer (a raw rate measured over a few
    hundred documents would be mostly noise)."""
    flows = list(workload.flows)
    copy = 0
    while len(flows) < minimum:
        copy += 1
        room = minimum - len(flows)
        flows += [
            msgspec.structs.replace(e, pod_ip=f"{e.pod_ip}#{copy}") for e in workload.flows[:room]
        ]
    return flows


async def raw_insert(mongo_url: str, workload: Workload) -> tuple[Figure, str]:
    """``insert_many`` of one ~300-byte document per distinct flow (at least
    ``RAW_MIN_DOCS``), 10k per call, unordered; returns it and a description of the
    MongoDB server."""
    docs = [_flow_doc(e) for e in raw_flows(workload)]
    label = f"raw MongoDB insert_many ({MONGO_BATCH // 1000}k/call, unordered)"
    return await on_scratch_db(
        mongo_url, lambda col: insert_many_limit(col, docs, MONGO_BATCH, label, "docs")
    )


async def _traffic_indexes(col: AsyncCollection[Document]) -> None:
    """traffic-store's three indexes on ``col``."""
    await col.create_index([("time_stamp", DESCENDING), ("uuid", DESCENDING)])
    await col.create_index([("pod_name", 1), ("time_stamp", DESCENDING), ("uuid", DESCENDING)])
    await col.create_index([("pod_namespace", 1), ("time_stamp", DESCENDING), ("uuid", DESCENDING)])


async def raw_indexed_insert(mongo_url: str, workload: Workload) -> Figure:
    """Diagnostic: :func:`raw_insert` into a collection with traffic-store's three indexes,
    the cheapest way any store can add a flow row that its listings find."""
    docs = [_flow_doc(e) for e in raw_flows(workload, DIAGNOSTIC_MIN_DOCS)[:DIAGNOSTIC_MAX_DOCS]]
    label = f"raw MongoDB indexed insert_many ({MONGO_BATCH // 1000}k/call, 3 indexes)"

    async def insert(col: AsyncCollection[Document]) -> Figure:
        await col.drop()
        await _traffic_indexes(col)
        return await write_limit(
            col, docs, lambda chunk: col.insert_many(chunk, ordered=False), MONGO_BATCH, label
        )

    figure, _server = await on_scratch_db(mongo_url, insert)
    return figure


async def raw_upsert(mongo_url: str, workload: Workload) -> Figure:
    """Diagnostic: one plain upsert per flow, 10k per call, on traffic-store's three indexes.

    traffic-store's own upserts also carry a redelivery guard (see its ``pod_traffic``
    module), so this is a ceiling for it, not a copy of it.
    """
    ops = [
        UpdateOne(
            {"_id": "|".join(folded_key(e))},
            {
                "$setOnInsert": msgspec.structs.asdict(e),
                "$inc": {"hits": 1},
                "$min": {"first_seen": e.time_stamp},
                "$max": {"last_seen": e.time_stamp},
            },
            upsert=True,
        )
        for e in raw_flows(workload, DIAGNOSTIC_MIN_DOCS)[:DIAGNOSTIC_MAX_DOCS]
    ]
    label = f"raw MongoDB bulk upsert ({MONGO_BATCH // 1000}k/call, 3 indexes)"

    async def upsert(col: AsyncCollection[Document]) -> Figure:
        await col.drop()
        await _traffic_indexes(col)
        return await write_limit(
            col, ops, lambda chunk: col.bulk_write(chunk, ordered=False), MONGO_BATCH, label
        )

    figure, _server = await on_scratch_db(mongo_url, upsert)
    return figure


async def stored_totals(col: AsyncCollection[Document]) -> tuple[int, int]:
    """(sum of hits, documents) in ``pod_traffic``."""
    cursor = await col.aggregate(
        [{"$group": {"_id": None, "hits": {"$sum": "$hits"}, "docs": {"$sum": 1}}}]
    )
    rows = await cursor.to_list()
    if not rows:
        return 0, 0
    return int(rows[0]["hits"]), int(rows[0]["docs"])


async def wait_idle(js: JetStreamContext, timeout: float) -> None:
    """Wait until both services' consumers have nothing pending (matters on a shared server)."""
    deadline = time.monotonic() + timeout
    for stream, durable in ((bus.COLLECT.name, INGEST_DURABLE), (bus.TRAFFIC.name, STORE_DURABLE)):
        while True:
            _floor, pending, ack_pending = await consumer_state(js, stream, durable)
            if pending == 0 and ack_pending == 0:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{durable} still has {pending + ack_pending} messages to do")
            await asyncio.sleep(POLL_INTERVAL)


async def pipeline(
    js: JetStreamContext,
    col: AsyncCollection[Document],
    workload: Workload,
    timeout: float,
    eager_probe: bool = False,
) -> PipelineRun:
    """Publish the workload to COLLECT and wait until MongoDB holds every event.

    Every 0.5 s the consumers' states are read from JetStream (cheap). The condition
    itself, ``sum(hits) == N`` and one document per distinct flow, is checked with an
    aggregate over ``pod_traffic``; by default only once both services have acked all
    their input, because on SecantusDB the aggregate competes with traffic-store's writes
    for the same server (measured: 50 aggregates cost 19 s of a 44 s run at N=20k).
    ``eager_probe`` aggregates on every poll instead.
    """
    run = PipelineRun()
    publisher = Publisher(js, bus.COLLECT_POD_TRAFFIC, bus.COLLECT.name, workload.messages, timeout)
    hits = docs = 0
    async with publisher:
        started = publisher.started
        deadline = started + timeout
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            publisher.check()  # a failed publish ends the run here
            now = time.perf_counter() - started
            consumers = await run.drain.poll(js, publisher.last, now)
            if eager_probe or run.drain.service is not None:
                probe = time.perf_counter()
                hits, docs = await stored_totals(col)
                run.aggregate_seconds += time.perf_counter() - probe
                run.polls += 1
            run.samples.append(f"t={now:6.1f}s {consumers}  hits={hits} docs={docs}")
            if hits == workload.events and docs == workload.distinct:
                run.total = time.perf_counter() - started
                run.published = publisher.published
                run.redelivered = await redeliveries(js, run.drain.durables)
                return run
            if run.drain.service is not None and (
                hits > workload.events or now - run.drain.service > SETTLE
            ):
                raise BenchError(
                    f"both services acked everything, yet pod_traffic holds sum(hits)={hits} "
                    f"for {workload.events} events and {docs} documents for "
                    f"{workload.distinct} distinct flows\n  " + "\n  ".join(run.samples[-8:])
                )
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"not persisted within {timeout:.0f}s: sum(hits)={hits} of "
                    f"{workload.events}, docs={docs} of {workload.distinct}\n  "
                    + "\n  ".join(run.samples[-8:])
                )


# --- Report -------------------------------------------------------------------


def report(header: list[str], workload: Workload, raw: list[Figure], run: PipelineRun) -> str:
    """The table: workload, each figure in events/s, the pipeline's ratios."""
    n = workload.events
    pct = 100.0 / n
    mean_msg = workload.payload_bytes / len(workload.messages)
    mean_event = (workload.payload_bytes - len(workload.messages) * 2) / n
    lines = [*header, ""]
    lines.append(
        f"workload  N={n} events in {len(workload.messages)} messages of {workload.batch}; "
        f"duplicates={workload.duplicates} ({workload.duplicates * pct:.1f} %); "
        f"distinct flows={workload.distinct}"
    )
    lines.append(
        f"          mean event {mean_event:.0f} B, mean message {mean_msg / 1024:.1f} KiB; "
        f"TCP {workload.tcp * pct:.0f} % / UDP {workload.udp * pct:.0f} %, "
        f"INGRESS {workload.ingress * pct:.0f} % / EGRESS {workload.egress * pct:.0f} %, "
        f"DROP {workload.drops * pct:.0f} %"
    )
    pipe = Figure("pipeline end to end (first publish -> all persisted)", n, run.total)
    lines += ["", f"{'measurement':<58}{'events/s':>12}{'seconds':>10}"]
    lines.append("-" * 80)
    for fig in [*raw, pipe]:
        unit = "" if fig.unit == "events" else f" ({fig.unit}/s)"
        lines.append(f"{fig.label + unit:<58}{fig.rate:>12,.0f}{fig.seconds:>10.2f}")
    lines.append(f"  all {len(workload.messages)} PubAcks received after {run.published:.2f} s")
    drain = run.drain
    if drain.ingest is not None:
        lines.append(
            f"  ingest had acked all of COLLECT by {drain.ingest:.1f} s "
            f"(~{n / drain.ingest:,.0f} events/s; {drain.forwarded} TRAFFIC batches)"
        )
    if drain.service is not None:
        lines.append(f"  traffic-store had acked all of TRAFFIC by {drain.service:.1f} s")
    lines.append(
        f"  (consumers polled every {POLL_INTERVAL} s; {run.polls} pod_traffic aggregates "
        f"took {run.aggregate_seconds:.2f} s in all)"
    )
    if run.cpu:
        lines.append(f"  CPU seconds during the run ({run.total:.1f} s wall): {cpu_line(run.cpu)}")
    if run.redelivered:
        again = ", ".join(f"{name} {count}" for name, count in run.redelivered.items())
        lines.append(f"  messages redelivered: {again}")
    labels = {
        "raw JetStream publish": RATIO_PUBLISH,
        "raw JetStream pull": RATIO_PULL,
        "raw MongoDB insert_many": RATIO_INSERT,
        "raw MongoDB bulk upsert": RATIO_UPSERT,
        "raw MongoDB indexed insert_many": RATIO_INDEXED,
    }
    lines += ["", "ratios (same run, same machine)"]
    for fig in raw:
        for prefix, ratio in labels.items():
            if fig.label.startswith(prefix):
                lines.append(
                    ratio_line(ratio, pipe.rate / fig.rate, "raw is {inverse:,.1f}x", width=38)
                )
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = pipeline_parser(__doc__, "events", 100_000, "events", in_flight=4000, seed=7)
    parser.add_argument("--batch", type=int, default=100, help="events per collect message")
    parser.add_argument(
        "--repeats",
        default="0,30,95",
        help="comma-separated repeat shares in %% (re-sightings of earlier flows); "
        "one scenario each (default 0,30,95)",
    )
    parser.add_argument(
        "--flows",
        type=int,
        default=None,
        help="distinct flows per scenario instead of --events: N = flows / (1 - share) "
        "(e.g. --flows 1000000 --repeats 30 sends 1.43 M events)",
    )
    parser.add_argument(
        "--eager-probe",
        action="store_true",
        help="aggregate pod_traffic on every poll, not only once the consumers are drained",
    )
    args = parser.parse_args(argv)
    try:
        args.shares = [float(part) / 100 for part in args.repeats.split(",") if part.strip()]
    except ValueError:
        parser.error("--repeats takes percentages separated by commas, e.g. 0,30,95")
    if not args.shares or any(not 0 <= share < 1 for share in args.shares):
        parser.error("--repeats: each share must be at least 0 and below 100")
    if args.events < 1 or args.batch < 1 or args.in_flight < 1:
        parser.error("--events, --batch and --in-flight must be positive")
    if args.flows is not None and args.flows < 1:
        parser.error("--flows must be positive")
    return args


def scenario_events(args: argparse.Namespace, share: float) -> int:
    """Events of the scenario with repeat share ``share``: ``--events``, or as many as
    give ``--flows`` distinct flows."""
    if args.flows is None:
        return int(args.events)
    flows: int = args.flows
    return max(1, round(flows / (1 - share)))


async def measure(
    args: argparse.Namespace,
    nats_url: str,
    mongo_url: str,
    db_name: str,
    workload: Workload,
    timeout: float,
    cpu: Callable[[], dict[str, float]],
) -> PipelineRun:
    """The pipeline, once both services have nothing left to do, with its CPU seconds."""
    async with nats_client(nats_url, "bench") as nc, mongo_client(mongo_url) as client:
        js = nc.jetstream(publish_async_max_pending=args.in_flight)
        db = client[db_name]
        try:
            await wait_idle(js, timeout)
            await db[POD_TRAFFIC].delete_many({})
            before = cpu()
            run = await pipeline(js, db[POD_TRAFFIC], workload, timeout, args.eager_probe)
            after = cpu()
            run.cpu = cpu_delta(before, after)
            return run
        finally:
            with contextlib.suppress(Exception):
                await client.drop_database(db_name)


@dataclass
class Scenario:
    """One repeat share's measurements."""

    workload: Workload
    insert: Figure
    indexed: Figure
    upsert: Figure
    run: PipelineRun

    @property
    def rate(self) -> float:
        """The pipeline's events per second."""
        return self.workload.events / self.run.total


def summary(scenarios: list[Scenario]) -> str:
    """One line per repeat share: the pipeline against the raw writes of its own run."""
    lines = [
        "summary: pipeline events/s against raw MongoDB docs/s measured in the same scenario "
        "(insert_many unindexed, insert_many with traffic-store's 3 indexes, bulk upsert)",
        f"  {'repeats':>8}{'events':>9}{'flows':>9}{'events/s':>10}"
        f"{'insert/s':>10}{'÷ insert':>10}{'indexed/s':>10}{'÷ indexed':>10}"
        f"{'upsert/s':>10}{'÷ upsert':>10}",
    ]
    for sc in scenarios:
        w = sc.workload
        lines.append(
            f"  {100 * w.duplicates / w.events:>7.0f}%{w.events:>9}{w.distinct:>9}"
            f"{sc.rate:>10,.0f}{sc.insert.rate:>10,.0f}{sc.rate / sc.insert.rate:>10.2f}"
            f"{sc.indexed.rate:>10,.0f}{sc.rate / sc.indexed.rate:>10.2f}"
            f"{sc.upsert.rate:>10,.0f}{sc.rate / sc.upsert.rate:>10.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure each repeat share, print the tables, stop everything."""
    args = parse_args(argv)
    given_nats = os.environ.get("BENCH_NATS_URL", "")
    given_mongo = os.environ.get("BENCH_MONGODB_URL", "")

    def body(stack: Stack) -> str:
        nats_url = given_nats or own_nats(stack)
        fresh_mongo = FreshMongo(stack, given_mongo, disk=args.mongo_disk)
        tables: list[str] = []
        scenarios: list[Scenario] = []
        raw_js: list[Figure] = []
        mongo_desc = ""
        for share in args.shares:
            events = scenario_events(args, share)
            timeout = args.timeout or 60.0 + events / 250
            print(f"{100 * share:.0f} % repeats: generating {events} events ...", flush=True)
            started = time.perf_counter()
            workload = generate(events, args.batch, duplicate_share=share, seed=args.seed)
            print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
            if not raw_js:
                print("raw JetStream publish and pull ...", flush=True)
                publish, pull = asyncio.run(
                    raw_jetstream(nats_url, args.in_flight, workload, timeout)
                )
                raw_js = [publish, pull]
            print("raw MongoDB insert_many and bulk upsert ...", flush=True)
            insert, mongo_desc = asyncio.run(raw_insert(fresh_mongo(), workload))
            indexed = asyncio.run(raw_indexed_insert(fresh_mongo(), workload))
            upsert = asyncio.run(raw_upsert(fresh_mongo(), workload))
            mongo_url = fresh_mongo()
            db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
            stack.start_services(service_env(nats_url, mongo_url, db_name), SERVICES)
            print(f"services up; pipeline (logs in {stack.logs}) ...", flush=True)
            run = asyncio.run(
                measure(args, nats_url, mongo_url, db_name, workload, timeout, stack.cpu)
            )
            stack.stop_services()
            scenarios.append(Scenario(workload, insert, indexed, upsert, run))
            raw = [insert, indexed, upsert]
            raw = [*raw_js, *raw] if len(scenarios) == 1 else raw
            tables.append(report([], workload, raw, run))
        nats_version = "(external)" if given_nats else binary_version("nats-server")
        header = machine_info(pipeline_versions(fresh_mongo, mongo_desc, nats_version, yaml=False))
        return "\n".join([*header, *tables, "", summary(scenarios)])

    return common.run(
        "kubeward-bench-", body, me="bench (publisher, probes)", scratch=("jetstream", "mongo")
    )


if __name__ == "__main__":
    sys.exit(main())
