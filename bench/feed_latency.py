"""Live feed: ``POST /api/pods/failed`` → ``pod_failure`` frame on ``/ws``, at 200 and 1000 clients.

Run by ``make bench`` (``uv run --no-sync python -m bench.feed_latency [--clients 200,1000]
[--reports N]``; ``--help`` lists every option).

It starts nats-server, SecantusDB (in memory) and redis-server on free ports, then gateway,
ingest, failure-analyzer, security and traffic-store as processes (as ``make run`` does: the
report is stored, diagnosed and its manifest scanned). For each client count C it opens C
WebSocket connections to ``/ws?token=<SERVICE_TOKEN>`` (Kure's feed, as its dashboard and
agent connect; permessage-deflate offered as a browser does), spread over ``--procs``
receiver processes, waits until every client has seen a warm-up report's frame, then posts
``--reports`` realistic agent reports (:mod:`kubeward.devstack.failure_reports`, ~7 KB, each a
new pod) one after another as the agent does, one every ``--interval-ms``. Each receiver
stamps the ``pod_failure`` frame of each report on arrival (same host, same wall clock): the
figure is POST sent → frame received, over every (client, report) pair.

Raw limits, measured in the same run: the POST's own answer time with no client connected
(the report is stored and its event published before the answer), and plain core-NATS
fan-out of a message to C connections in the same receiver processes. It never asserts a
timing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import sys
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import aiohttp
import msgspec

from bench import common
from bench.children import Child, child_main
from bench.common import (
    BenchError,
    Stack,
    machine_info,
    nats_client,
    own_servers,
    ratio_line,
    say,
    version,
)
from bench.gateway import RAW_SUBJECT, fanout
from bench.latency import Latencies, latencies
from bench.ws_clients import (
    Arrivals,
    all_ready,
    collect,
    converse,
    open_ws_clients,
    read_frames,
    receivers,
)
from kubeward.devstack.failure_reports import generate

SERVICES = ("ingest", "failure_analyzer", "security", "traffic_store", "gateway")
WARM_EVERY = 0.5
"""Seconds between warm-up reports while waiting for every client to see one."""


# --- Receivers (child processes) -------------------------------------------------


@dataclass(frozen=True)
class WatchJob:
    """What one receiver process does: ``clients`` sockets on ``url``, watching ``pods``."""

    url: str
    clients: int
    pods: tuple[str, ...]
    deflate: bool


class _Frame(msgspec.Struct):
    type: str
    data: msgspec.Raw


class _Pod(msgspec.Struct):
    pod_name: str | None = None


_frame = msgspec.json.Decoder(_Frame)
POD_FAILURE = '{"type":"pod_failure",'
"""How the gateway's ``pod_failure`` frames begin (msgspec encodes ``type`` first)."""
_pod = msgspec.json.Decoder(_Pod)


class _Arrivals(Arrivals):
    """When each client received each watched pod's ``pod_failure`` frame."""

    def __init__(self, clients: int, pods: Sequence[str]) -> None:
        super().__init__(clients, len(pods))
        self.index = {name: i for i, name in enumerate(pods)}
        self.frames: Counter[str] = Counter()
        self.frames_before: Counter[str] = Counter()

    def frame(self, client: int, raw: bytes | str, now: int) -> None:
        """Record one received frame (``now`` taken on arrival)."""
        head = raw[:40] if isinstance(raw, str) else raw[:40].decode(errors="replace")
        if not head.startswith(POD_FAILURE):  # the one frame type timed: skip the decoding
            self.frames[head.partition('","')[0].removeprefix('{"type":"')] += 1
            return
        self.frames["pod_failure"] += 1
        slot = self.index.get(_pod.decode(_frame.decode(raw).data).pod_name or "")
        if slot is None:  # a warm-up report
            self.warmed_up(client)
        else:
            self.record(client, slot, now)

    def warm_over(self) -> None:
        """Count the frame types from here on."""
        self.frames_before = Counter(self.frames)

    def result(self, cpu: float) -> tuple[object, ...]:
        """The arrival times, frames by type since the warm-up, sockets closed, CPU."""
        return (
            "result",
            self.ns.tobytes(),
            dict(self.frames - self.frames_before),
            self.closed,
            cpu,
        )


def watcher_main(conn: Connection, job: WatchJob) -> None:
    """Entry point of a receiver process; talks to the parent over ``conn``."""
    child_main(_watch(conn, job))


async def _watch(conn: Connection, job: WatchJob) -> None:
    arrivals = _Arrivals(job.clients, job.pods)
    failures: list[str] = []
    started = time.perf_counter()
    live = await open_ws_clients(job.url, job.deflate, job.clients, failures)
    arrivals.connected = len(live)
    readers = [asyncio.create_task(read_frames(ws, i, arrivals)) for i, ws in live]
    await converse(conn, arrivals, live, readers, failures, time.perf_counter() - started, 120)


# --- The agent ----------------------------------------------------------------------


@dataclass
class Posts:
    """The measured POSTs: when each was sent (wall clock, ns) and its answer time (s)."""

    sent_ns: list[int]
    answer_s: list[float]


async def post_paced(url: str, token: str, bodies: Sequence[bytes], interval: float) -> Posts:
    """POST ``bodies`` one after another (one agent), starting one every ``interval`` s."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    posts = Posts([], [])
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        for index, body in enumerate(bodies):
            delay = started + index * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.sent_ns.append(time.time_ns())
            began = time.perf_counter()
            async with session.post(url, data=body) as answer:
                data = await answer.read()
                if answer.status != 200:
                    raise BenchError(f"POST answered {answer.status}: {data[:200]!r}")
            posts.answer_s.append(time.perf_counter() - began)
    return posts


async def warm_up(
    url: str, token: str, workers: list[Child], bodies: Sequence[bytes], timeout: float = 120
) -> None:
    """Post warm-up reports until every receiver says each of its clients saw one."""
    waiting = asyncio.gather(*(w.expect("warm", timeout) for w in workers))
    for body in bodies:
        await post_paced(url, token, [body], 0)
        done, _ = await asyncio.wait({waiting}, timeout=WARM_EVERY)
        if done:
            break
    else:
        raise BenchError(f"clients saw no warm-up report after {len(bodies)} of them")
    warm = await waiting
    if any(int(m[1]) == 0 for m in warm):
        raise BenchError("a receiver's clients saw no warm-up report")


# --- Measurement ----------------------------------------------------------------------


@dataclass
class Run:
    """One client count: every (client, report) latency and what came with it."""

    clients: int
    connected: int
    lat: Latencies
    answer: Latencies
    frames_per_report: dict[str, float]
    """Frames of each type one client received per report posted."""
    closed: int
    cpu: dict[str, float]


async def feed_run(
    args: argparse.Namespace,
    clients: int,
    gw: str,
    token: str,
    seed: int,
    cpu: Callable[[], dict[str, float]],
) -> Run:
    """Connect ``clients`` sockets, warm up, post the reports, gather every latency."""
    workload = generate(args.reports, repeat_share=0.0, seed=seed)
    pods = tuple(r.pod_name for r in workload.reports)
    warm = generate(60, repeat_share=0.0, seed=seed + 1)
    url = f"ws://{gw.removeprefix('http://')}/ws?token={token}"
    post = f"{gw}/api/pods/failed"

    def job(size: int) -> WatchJob:
        return WatchJob(url, size, pods, not args.no_deflate)

    with receivers("ws watchers", watcher_main, clients, args.procs, job) as workers:
        ready = await all_ready(workers)
        connected = sum(int(r[1]) for r in ready)
        if connected < clients:
            raise BenchError(f"{connected} of {clients} clients connected: {ready[0][2]}")
        await warm_up(post, token, workers, warm.messages)
        before = cpu()
        posts = await post_paced(post, token, workload.messages, args.interval_ms / 1000)
        results = await collect(workers, args.settle)
        after = cpu()
    width = len(pods)
    samples: list[int] = []
    for r in results:
        arrived = array("q")
        arrived.frombytes(r[1])
        for at, ns in enumerate(arrived):
            if ns >= 0:
                samples.append(ns - posts.sent_ns[at % width])
    frames: Counter[str] = sum((Counter(r[2]) for r in results), Counter())
    return Run(
        clients=clients,
        connected=connected,
        lat=latencies(f"POST → pod_failure frame, {clients} clients", samples, clients * width),
        answer=latencies("POST answer", [round(s * 1e9) for s in posts.answer_s]),
        frames_per_report={k: v / connected / width for k, v in frames.most_common()},
        closed=sum(int(r[3]) for r in results),
        cpu={k: after[k] - before.get(k, 0.0) for k in after}
        | {"receivers": sum(float(r[4]) for r in results)},
    )


async def posts_alone(args: argparse.Namespace, gw: str, token: str, seed: int) -> Latencies:
    """The same paced POSTs with no feed client: the answer time the frames rest on."""
    workload = generate(args.reports, repeat_share=0.0, seed=seed)
    posts = await post_paced(
        f"{gw}/api/pods/failed", token, workload.messages, args.interval_ms / 1000
    )
    return latencies("POST answer, no feed client", [round(s * 1e9) for s in posts.answer_s])


async def nats_fanout(
    args: argparse.Namespace, nats_url: str, clients: int, cpu: Callable[[], dict[str, float]]
) -> Latencies:
    """Core-NATS fan-out to ``clients`` connections in the same receiver processes."""
    async with nats_client(nats_url, "bench-raw-fanout") as nc:

        async def publish(body: bytes) -> None:
            await nc.publish(RAW_SUBJECT, body)

        options = argparse.Namespace(
            procs=args.procs,
            clients=clients,
            messages=args.reports,
            interval_ms=args.interval_ms,
            no_deflate=True,
            settle=args.settle,
        )
        run = await fanout(
            f"core NATS fan-out to {clients} connections",
            "nats",
            nats_url,
            RAW_SUBJECT,
            publish,
            options,
            cpu,
        )
        return run.lat


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:7.1f} ms"


def report(args: argparse.Namespace, alone: Latencies, runs: list[tuple[Run, Latencies]]) -> str:
    """The table: each client count's frame latency next to its raw limits."""
    lines = machine_info(
        f"aiohttp {version('aiohttp')} agent, websockets {version('websockets')} clients "
        f"in {args.procs} processes (deflate {'off' if args.no_deflate else 'offered'}), "
        f"uvicorn {version('uvicorn')} one worker"
    )
    lines.append(
        f"reports   {args.reports} per client count, one every {args.interval_ms:.0f} ms, "
        "each a new pod (~7 KB)"
    )
    lines.append("")
    lines.append(f"{'':<48} {'p50':>10} {'p99':>10} {'max':>10}  delivered")
    lines.append(f"{alone.label:<48} {_ms(alone.p50)} {_ms(alone.p99)} {_ms(alone.max)}")
    for run, raw in runs:
        got = len(run.lat.ms) / max(run.lat.expected, 1)
        lines.append(
            f"{run.lat.label:<48} {_ms(run.lat.p50)} {_ms(run.lat.p99)} {_ms(run.lat.max)}"
            f"  {got:6.1%}"
        )
        lines.append(f"{'  its POST answers':<48} {_ms(run.answer.p50)} {_ms(run.answer.p99)}")
        lines.append(f"{'  ' + raw.label:<48} {_ms(raw.p50)} {_ms(raw.p99)} {_ms(raw.max)}")
        lines.append(
            "  frames per client per report: "
            + ", ".join(f"{k} {v:.1f}" for k, v in run.frames_per_report.items())
            + f"; sockets closed "
            f"{run.closed}; CPU s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(run.cpu.items(), key=lambda kv: -kv[1]))
        )
    lines.append("")
    for run, raw in runs:
        lines.append(
            ratio_line(
                f"frame p99 / POST answer p99 alone, {run.clients}",
                run.lat.p99 / alone.p99,
                "{value:,.2f}x",
            )
        )
        lines.append(
            ratio_line(
                f"frame p99 / core NATS fan-out p99, {run.clients}",
                run.lat.p99 / raw.p99,
                "{value:,.2f}x",
            )
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--clients", default="200,1000", help="client counts, comma-separated")
    parser.add_argument("--reports", type=int, default=60, help="reports posted per count")
    parser.add_argument("--interval-ms", type=float, default=1000.0, help="ms between POSTs")
    parser.add_argument("--procs", type=int, default=2, help="receiver processes")
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for stragglers")
    args = parser.parse_args(argv)
    args.counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if not args.counts or min(args.counts) < 1 or args.reports < 1 or args.procs < 1:
        parser.error("counts must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
    token = secrets.token_urlsafe(24)

    def body(stack: Stack) -> str:
        servers = own_servers(stack)
        env = servers.env(db_name, token)
        services = stack.start_services(env, SERVICES)
        gw = f"http://127.0.0.1:{services.ports['gateway']}"

        async def measure() -> str:
            say("POSTs alone ...")
            alone = await posts_alone(args, gw, token, seed=500)
            runs: list[tuple[Run, Latencies]] = []
            for n, clients in enumerate(args.counts):
                say(f"core NATS fan-out to {clients} ...")
                raw = await nats_fanout(args, servers.nats_url, clients, stack.cpu)
                say(f"{clients} feed clients ...")
                run = await feed_run(args, clients, gw, token, 600 + 10 * n, stack.cpu)
                runs.append((run, raw))
            return report(args, alone, runs)

        return asyncio.run(measure())

    return common.run("kubeward-bench-feedlat-", body)


if __name__ == "__main__":
    sys.exit(main())
