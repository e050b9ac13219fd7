"""Gateway benchmark: live-feed WebSocket fan-out latency and authenticated GET throughput.

Run by ``make bench`` (``uv run --no-sync python -m bench.gateway [--clients C] [--messages M]
[--requests N]`` from the repository root; ``--help`` lists every option).

It starts its own nats-server (JetStream in a temporary directory), SecantusDB (in memory)
and redis-server on free ports, then the gateway as a process (``python -m
kubeward.gateway``, one uvicorn worker, as ``make run`` serves it) and the bare Litestar app
of ``bench/bare_app.py`` (the raw limit of the GET figures).

Feed: C clients connect to ``ws://…/api/ws?token=<SERVICE_TOKEN>`` (the ``websockets``
package, spread over ``--procs`` receiver processes, with permessage-deflate offered as a
browser does). M messages ``{"type": "bench", "data": {"i": k, "t": <time.time_ns()>}}`` are
published with JetStream to ``kubeward.feed.bench``, one every ``--interval-ms``; each
receiver stamps every frame with ``time.time_ns()`` on arrival (same host, so the wall
clocks agree). It reports p50/p99/max over every (client, message) pair and the fraction
delivered. In the same run, the raw limits: the core-NATS request/reply round trip on the
same server, and plain core-NATS fan-out of the same messages to C subscriber connections in
the same receiver processes (what the gateway would achieve if it added nothing).

GETs: it signs up an admin, logs in, and drives ``GET /api/auth/me`` (session cookie →
Redis, then the user from MongoDB) and ``GET /api/admin/users`` with ``--concurrency``
keep-alive connections for a fixed number of requests (``--requests``, after a warm-up),
from a separate process using a minimal HTTP/1.1 client on asyncio streams (``wrk`` is not
assumed; httpx costs more CPU per request than the server under test). The raw limit is
the same client against the bare app. As diagnostics it also times Redis ``GET`` and
MongoDB ``find_one`` at the same concurrency from this process.

It prints a table with the ratios of each gateway figure to its raw limit, plus the CPU
seconds each process used per phase; it never asserts a timing. Every process it starts
is stopped on exit, error, Ctrl-C or SIGTERM (see :mod:`bench.common`).
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

import httpx
import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bench import common
from bench.children import Child, child_main, children
from bench.common import (
    BenchError,
    Stack,
    binary_version,
    cpu_delta,
    cpu_line,
    machine_info,
    nats_client,
    own_servers,
    ratio_line,
    say,
    version,
)
from bench.http1 import SESSION_COOKIE, connection, exchange, get_request, start_bare_app
from bench.latency import Latencies, latencies
from bench.ws_clients import (
    CONNECT_PARALLEL,
    Arrivals,
    Closable,
    all_ready,
    collect,
    converse,
    open_ws_clients,
    read_frames,
    receivers,
)
from kubeward.core.bus import settled
from kubeward.schemas import bus

FEED_SUBJECT = bus.FEED_PREFIX + "bench"
RAW_SUBJECT = "bench.fanout"
RTT_SUBJECT = "bench.rtt"
ADMIN = "bench-admin"
ADMIN_PASSWORD = "bench-password-" + secrets.token_hex(4)
BARE = "bare-litestar"
WARM_EVERY = 0.3
"""Seconds between warm-up messages while waiting for every client to be attached."""

RATIO_WS_P50 = "WS fan-out p50 / core NATS fan-out p50"
RATIO_WS_P99 = "WS fan-out p99 / core NATS fan-out p99"
RATIO_WS_RTT = "WS fan-out p50 / NATS round trip p50"
RATIO_ME = "GET /api/auth/me / bare Litestar GET"
RATIO_USERS = "GET /api/admin/users / bare Litestar GET"

Kind = Literal["ws", "nats"]


# --- Fan-out receivers (child processes) ----------------------------------------


@dataclass(frozen=True)
class ReceiverJob:
    """What one receiver process does: ``clients`` connections of ``kind`` to ``url``."""

    kind: Kind
    url: str
    subject: str
    clients: int
    messages: int
    deflate: bool


class _Frame(msgspec.Struct):
    type: str
    data: msgspec.Raw
    seq: int = 0


class _Stamp(msgspec.Struct):
    i: int
    t: int


_frame = msgspec.json.Decoder(_Frame)
_stamp = msgspec.json.Decoder(_Stamp)


def feed_message(index: int, sent_ns: int) -> bytes:
    """A feed message body carrying its index and send time (``-1``: warm-up)."""
    return msgspec.json.encode({"type": "bench", "data": {"i": index, "t": sent_ns}})


class _Tally(Arrivals):
    """Latency of every (client, message) pair received by one process."""

    def __init__(self, clients: int, messages: int) -> None:
        super().__init__(clients, messages)
        self.control = 0

    def frame(self, client: int, raw: bytes | str, now: int) -> None:
        """Record one received frame (``now`` taken on arrival)."""
        frame = _frame.decode(raw)
        if frame.type != "bench":
            self.control += 1  # lagging / resync_required: not expected here
            return
        stamp = _stamp.decode(frame.data)
        if stamp.i < 0:
            self.warmed_up(client)
        elif stamp.i < self.width:
            self.record(client, stamp.i, now - stamp.t)

    def result(self, cpu: float) -> tuple[object, ...]:
        """The latencies, CPU seconds, control frames and sockets closed early."""
        return ("result", self.ns.tobytes(), cpu, self.control, self.closed)


def receiver_main(conn: Connection, job: ReceiverJob) -> None:
    """Entry point of a receiver process; talks to the parent over ``conn``."""
    child_main(_receive(conn, job))


async def _receive(conn: Connection, job: ReceiverJob) -> None:
    """Connect, report ready, confirm attachment with warm-ups, then collect the latencies."""
    tally = _Tally(job.clients, job.messages)
    failures: list[str] = []
    started = time.perf_counter()
    live: list[tuple[int, Closable]]
    readers: list[asyncio.Task[None]] = []
    if job.kind == "ws":
        sockets = await open_ws_clients(job.url, job.deflate, job.clients, failures)
        readers = [asyncio.create_task(read_frames(ws, i, tally)) for i, ws in sockets]
        live = [*sockets]
    else:
        gate = asyncio.Semaphore(CONNECT_PARALLEL)
        opened = await asyncio.gather(
            *(_open_nats(job, i, tally, gate, failures) for i in range(job.clients))
        )
        live = [c for c in opened if c is not None]
    tally.connected = len(live)
    await converse(conn, tally, live, readers, failures, time.perf_counter() - started, 60)


async def _open_nats(
    job: ReceiverJob, index: int, tally: _Tally, gate: asyncio.Semaphore, failures: list[str]
) -> tuple[int, NATS] | None:
    async def on_msg(msg: Msg) -> None:
        tally.frame(index, msg.data, time.time_ns())

    async with gate:
        try:
            nc: NATS = await nats.connect(
                job.url, name=f"bench-sub-{index}", allow_reconnect=False, connect_timeout=30
            )
            await nc.subscribe(job.subject, cb=on_msg)
            await settled(nc)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return None
    return index, nc


# --- HTTP load (child process) --------------------------------------------------


@dataclass(frozen=True)
class HttpJob:
    """``requests`` GETs of ``path`` over ``concurrency`` keep-alive connections."""

    port: int
    path: str
    cookie: str
    concurrency: int
    requests: int
    warmup: int


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


async def _http_connection(
    job: HttpJob, budget: _Budget, ns: array[int], statuses: dict[int, int], sample: list[bytes]
) -> None:
    request = get_request(job.port, job.path, job.cookie)
    async with connection(job.port) as streams:
        while budget.take():
            started = time.perf_counter_ns()
            status, head, body = await exchange(streams, request)
            ns.append(time.perf_counter_ns() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200 and not sample:
                sample.append(head + body)


async def _http_load(job: HttpJob, total: int) -> tuple[array[int], float, dict[int, int], bytes]:
    budget = _Budget(total)
    ns: array[int] = array("q")
    statuses: dict[int, int] = {}
    sample: list[bytes] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_http_connection(job, budget, ns, statuses, sample) for _ in range(job.concurrency))
    )
    return ns, time.perf_counter() - started, statuses, sample[0] if sample else b""


def http_main(conn: Connection, job: HttpJob) -> None:
    """Entry point of the HTTP load process: warm up, then the measured requests."""

    async def run() -> None:
        await _http_load(job, job.warmup)
        cpu = time.process_time()
        ns, seconds, statuses, sample = await _http_load(job, job.requests)
        conn.send(("result", ns.tobytes(), seconds, statuses, sample, time.process_time() - cpu))

    child_main(run())


# --- Fan-out measurement --------------------------------------------------------


@dataclass
class FanoutRun:
    """One fan-out measurement: every (client, message) latency and what it cost."""

    label: str
    lat: Latencies
    last_client: Latencies
    """Per message: latency of the last client to get it."""
    connect_seconds: float
    connected: int
    failures: list[str]
    publish_seconds: float
    drain_seconds: float
    """From the first publish to the last frame received."""
    control: int
    closed: int
    receiver_cpu: float
    cpu: dict[str, float] = field(default_factory=dict)


async def fanout(
    label: str,
    kind: Kind,
    url: str,
    subject: str,
    publish: Callable[[bytes], Awaitable[None]],
    args: argparse.Namespace,
    cpu: Callable[[], dict[str, float]],
) -> FanoutRun:
    """Connect the receivers, warm up, publish M paced messages, gather every latency."""
    messages = args.messages

    def job(size: int) -> ReceiverJob:
        return ReceiverJob(kind, url, subject, size, messages, not args.no_deflate)

    with receivers(f"{kind} receivers", receiver_main, args.clients, args.procs, job) as workers:
        ready = await all_ready(workers)
        connected = sum(int(r[1]) for r in ready)
        failures = [str(f) for r in ready for f in r[2]]
        connect_seconds = max(float(r[3]) for r in ready)
        if connected == 0:
            raise BenchError(f"{label}: no client connected: {failures[:1]}")
        await _warm_up(workers, publish)
        before = cpu()
        interval = args.interval_ms / 1000
        sent_ns: list[int] = []
        started = time.perf_counter()
        for index in range(messages):
            delay = started + index * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time_ns()
            sent_ns.append(now)
            await publish(feed_message(index, now))
        publish_seconds = time.perf_counter() - started
        results = await collect(workers, args.settle)
        after = cpu()
    matrix = array("q")
    for r in results:
        matrix.frombytes(r[1])
    samples = [v for v in matrix if v >= 0]
    expected = args.clients * messages
    last: list[int] = []
    end_ns = 0
    for m in range(messages):
        column = [v for v in matrix[m::messages] if v >= 0]
        if column:
            last.append(max(column))
            end_ns = max(end_ns, sent_ns[m] + last[-1])
    return FanoutRun(
        label=label,
        lat=latencies(label, samples, expected),
        last_client=latencies("last client", last, messages),
        connect_seconds=connect_seconds,
        connected=connected,
        failures=failures,
        publish_seconds=publish_seconds,
        drain_seconds=(end_ns - sent_ns[0]) / 1e9 if end_ns else math.nan,
        control=sum(int(r[3]) for r in results),
        closed=sum(int(r[4]) for r in results),
        receiver_cpu=sum(float(r[2]) for r in results),
        cpu=cpu_delta(before, after),
    )


async def _warm_up(workers: list[Child], publish: Callable[[bytes], Awaitable[None]]) -> None:
    """Publish warm-up messages until every receiver says all its clients got one."""
    waiting = asyncio.gather(*(w.expect("warm", 90) for w in workers))
    while True:
        await publish(feed_message(-1, time.time_ns()))
        done, _ = await asyncio.wait({waiting}, timeout=WARM_EVERY)
        if done:
            break
    warm = await waiting
    cold = [f"{w.name}: {int(m[1])}" for w, m in zip(workers, warm, strict=True)]
    if any(int(m[1]) == 0 for m in warm):
        raise BenchError(f"no client received a warm-up message ({', '.join(cold)})")


async def nats_round_trip(url: str, count: int) -> Latencies:
    """Core-NATS request/reply to a responder on another connection, one at a time."""
    requester: NATS = await nats.connect(url, name="bench-rtt")
    responder: NATS = await nats.connect(url, name="bench-rtt-responder")
    try:

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        await responder.subscribe(RTT_SUBJECT, cb=echo)
        await settled(responder)
        payload = feed_message(0, 0)
        for _ in range(min(200, count)):
            await requester.request(RTT_SUBJECT, payload, timeout=5)
        ns: list[int] = []
        for _ in range(count):
            started = time.perf_counter_ns()
            await requester.request(RTT_SUBJECT, payload, timeout=5)
            ns.append(time.perf_counter_ns() - started)
        return latencies("core NATS request/reply round trip (sequential)", ns)
    finally:
        await requester.close()
        await responder.close()


# --- GET measurement ------------------------------------------------------------


@dataclass
class HttpRun:
    """One fixed-size GET run."""

    label: str
    requests: int
    seconds: float
    lat: Latencies
    client_cpu: float
    cpu: dict[str, float] = field(default_factory=dict)
    server: str = ""
    """The process that served the requests (its CPU per request is reported)."""

    @property
    def server_us(self) -> float:
        """Server CPU microseconds per request (the client's for the diagnostics)."""
        used = self.cpu.get(self.server, self.client_cpu) if self.server else self.client_cpu
        return used * 1e6 / self.requests if self.requests else math.nan

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else math.inf


async def http_run(
    label: str,
    server: str,
    port: int,
    path: str,
    cookie: str,
    args: argparse.Namespace,
    cpu: Callable[[], dict[str, float]],
) -> HttpRun:
    """Drive ``path`` from a separate process; every answer must be 200."""
    job = HttpJob(
        port, path, cookie, args.concurrency, args.requests, max(100, args.requests // 10)
    )
    before = cpu()
    with children(1, lambda _i: Child(f"http load {path}", http_main, job)) as (child,):
        result = await child.expect("result", 120 + args.requests / 50)
    after = cpu()
    ns = array("q")
    ns.frombytes(result[1])
    statuses: dict[int, int] = result[3]
    if set(statuses) != {200}:
        raise BenchError(f"{label}: answers {statuses}; first non-200: {result[4][:300]!r}")
    return HttpRun(
        label=label,
        requests=len(ns),
        seconds=float(result[2]),
        lat=latencies(label, list(ns)),
        client_cpu=float(result[5]),
        cpu=cpu_delta(before, after),
        server=server,
    )


async def _concurrent(
    count: int, concurrency: int, call: Callable[[], Awaitable[object]]
) -> tuple[float, list[int]]:
    budget = _Budget(count)
    ns: list[int] = []

    async def worker() -> None:
        while budget.take():
            started = time.perf_counter_ns()
            await call()
            ns.append(time.perf_counter_ns() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, ns


async def component_diagnostics(
    redis_url: str, mongo_url: str, db_name: str, args: argparse.Namespace
) -> list[HttpRun]:
    """Redis GET and MongoDB find_one by ``_id`` at the same concurrency, from this process."""
    count = args.requests
    redis = Redis.from_url(redis_url)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        await redis.set("bench:session", b'{"sid":"x","username":"bench-admin","role":"admin"}')
        users = mongo[db_name]["users"]
        runs = []
        for label, call in (
            ("redis-py GET (what a session lookup costs)", lambda: redis.get("bench:session")),
            ("pymongo find_one by _id on users", lambda: users.find_one({"_id": ADMIN})),
        ):
            await _concurrent(max(100, count // 10), args.concurrency, call)
            cpu = time.process_time()
            seconds, ns = await _concurrent(count, args.concurrency, call)
            runs.append(
                HttpRun(label, len(ns), seconds, latencies(label, ns), time.process_time() - cpu)
            )
        return runs
    finally:
        await redis.delete("bench:session")
        await redis.aclose()
        await mongo.close()


def login(base: str) -> tuple[str, int]:
    """Sign up the admin (first user), log in; the session cookie and the user count."""
    with httpx.Client(base_url=base, timeout=30) as client:
        body = {"username": ADMIN, "password": ADMIN_PASSWORD}
        signup = client.post("/api/auth/signup", json=body)
        if signup.status_code != 201:
            raise BenchError(f"signup answered {signup.status_code}: {signup.text[:200]}")
        client.cookies.clear()
        answer = client.post("/api/auth/login", json=body)
        cookie = answer.cookies.get(SESSION_COOKIE)
        if answer.status_code != 200 or not cookie:
            raise BenchError(f"login answered {answer.status_code}: {answer.text[:200]}")
        users = client.get("/api/admin/users", cookies={SESSION_COOKIE: cookie})
        if users.status_code != 200:
            raise BenchError(f"GET /api/admin/users answered {users.status_code}: {users.text}")
        return cookie, len(users.json())


# --- Report -------------------------------------------------------------------


def _ratio(label: str, value: float, throughput: bool) -> str:
    """One ratio line; ``throughput``: gateway rate / raw rate, else gateway / raw latency."""
    note = "raw is {inverse:,.1f}x faster" if throughput else "{value:,.1f}x the raw latency"
    return ratio_line(label, value, note, width=44)


def report(
    args: argparse.Namespace,
    rtt: Latencies,
    raw: FanoutRun,
    gw: FanoutRun,
    http: list[HttpRun],
    diagnostics: list[HttpRun],
    users: int,
) -> str:
    """The table: feed latencies, GET rates, ratios to the raw limits of the same run."""
    lines = [
        *machine_info(
            f"nats-server {binary_version('nats-server')}, "
            f"redis-server {binary_version('redis-server')}, SecantusDB {version('secantusdb')} "
            f"(in memory); nats-py {version('nats-py')}, litestar {version('litestar')}, "
            f"uvicorn {version('uvicorn')} (one worker, h11/websockets), "
            f"websockets {version('websockets')}, redis-py {version('redis')}, "
            f"pymongo {version('pymongo')}"
        ),
        "",
    ]
    offered = args.clients * 1000 / args.interval_ms
    lines.append(
        f"feed      C={args.clients} clients in {min(args.procs, args.clients)} receiver "
        f"process(es), M={args.messages} messages, one every {args.interval_ms:g} ms "
        f"(offered {offered:,.0f} frames/s); permessage-deflate "
        f"{'off' if args.no_deflate else 'offered'}"
    )
    head = f"{'measurement':<54}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'delivered':>11}"
    lines += ["", head, "-" * len(head)]
    for lat in (rtt, raw.lat, gw.lat):
        label = lat.label
        lines.append(
            f"{label:<54}{lat.p50:>9.2f}{lat.p99:>9.2f}{lat.max:>9.2f}{lat.delivered:>10.2%} "
        )
    for run, server in ((raw, "nats-server"), (gw, "gateway")):
        frames = len(run.lat.ms)
        lines.append(
            f"  {run.label}: last client per message p50 {run.last_client.p50:.1f} ms, "
            f"p99 {run.last_client.p99:.1f} ms; all frames in {run.drain_seconds:.2f} s "
            f"(~{run.lat.delivered * args.clients * args.messages / run.drain_seconds:,.0f} "
            f"frames/s); {run.connected} connected in {run.connect_seconds:.1f} s"
        )
        if run.failures:
            lines.append(f"    connect failures, e.g. {run.failures[0]}")
        if run.control or run.closed:
            lines.append(f"    control frames {run.control}, closed early {run.closed}")
        lines.append(
            "    CPU seconds while publishing/receiving: "
            + cpu_line(run.cpu, {"receivers": run.receiver_cpu})
            + f"; {server} {run.cpu.get(server, math.nan) * 1e6 / max(1, frames):,.0f} us, "
            f"receivers {run.receiver_cpu * 1e6 / max(1, frames):,.0f} us per frame"
        )
    lines += ["", "ratios (same run, same servers; lower is better)"]
    lines.append(_ratio(RATIO_WS_P50, gw.lat.p50 / raw.lat.p50, False))
    lines.append(_ratio(RATIO_WS_P99, gw.lat.p99 / raw.lat.p99, False))
    lines.append(_ratio(RATIO_WS_RTT, gw.lat.p50 / rtt.p50, False))

    lines.append("")
    lines.append(
        f"GET       N={args.requests} requests per endpoint after a warm-up, "
        f"{args.concurrency} keep-alive connections, one load process (asyncio HTTP/1.1); "
        f"{users} user(s) in the list"
    )
    head = (
        f"{'measurement':<54}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU us/req':>12}"
    )
    lines += ["", head, "-" * len(head)]
    for hrun in http:
        lines.append(
            f"{hrun.label:<54}{hrun.rate:>9,.0f}{hrun.lat.p50:>9.2f}{hrun.lat.p99:>9.2f}"
            f"{hrun.lat.max:>9.2f}{hrun.server_us:>12,.0f}"
        )
    for hrun in http:
        lines.append(
            f"  {hrun.label}: CPU seconds "
            + cpu_line(hrun.cpu, {"load process": hrun.client_cpu})
            + f" in {hrun.seconds:.2f} s wall"
        )
    lines.append("  (CPU us/req: the serving process's CPU per request)")
    lines.append("  diagnostics, from this process at the same concurrency (CPU: this process's):")
    for hrun in diagnostics:
        lines.append(
            f"  {hrun.label:<52}{hrun.rate:>9,.0f}{hrun.lat.p50:>9.2f}{hrun.lat.p99:>9.2f}"
            f"{hrun.lat.max:>9.2f}{hrun.server_us:>12,.0f}"
        )
    bare, me, listing = http
    lines += ["", "ratios (same run, same client; req/s, higher is better)"]
    lines.append(_ratio(RATIO_ME, me.rate / bare.rate, True))
    lines.append(_ratio(RATIO_USERS, listing.rate / bare.rate, True))
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients (C)")
    parser.add_argument("--messages", type=int, default=200, help="feed messages (M)")
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=100.0,
        help="milliseconds between feed messages (default keeps the gateway below saturation)",
    )
    parser.add_argument(
        "--procs", type=int, default=2, help="receiver processes the clients are spread over"
    )
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for stragglers")
    parser.add_argument("--rtt", type=int, default=2000, help="NATS round trips to time")
    parser.add_argument("--requests", type=int, default=5000, help="GETs per endpoint (N)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent keep-alive connections"
    )
    args = parser.parse_args(argv)
    if min(args.clients, args.messages, args.procs, args.requests, args.concurrency, args.rtt) < 1:
        parser.error("counts must be positive")
    if args.interval_ms < 0:
        parser.error("--interval-ms must not be negative")
    return args


async def measure(
    args: argparse.Namespace,
    nats_url: str,
    redis_url: str,
    mongo_url: str,
    db_name: str,
    gateway_port: int,
    bare_port: int,
    token: str,
    cpu: Callable[[], dict[str, float]],
) -> str:
    """Every measurement, raw limits first; returns the report."""
    async with nats_client(nats_url, "bench-publisher") as nc:
        js = nc.jetstream()
        say("NATS round trip ...")
        rtt = await nats_round_trip(nats_url, args.rtt)

        async def core_publish(body: bytes) -> None:
            await nc.publish(RAW_SUBJECT, body)

        async def feed_publish(body: bytes) -> None:
            ack = await js.publish(FEED_SUBJECT, body)
            if ack.stream != bus.FEED.name:
                raise BenchError(f"PubAck from {ack.stream}, not {bus.FEED.name}")

        say(f"core NATS fan-out to {args.clients} subscribers ...")
        raw = await fanout(
            f"core NATS fan-out to {args.clients} connections",
            "nats",
            nats_url,
            RAW_SUBJECT,
            core_publish,
            args,
            cpu,
        )
        say(f"gateway WebSocket fan-out to {args.clients} clients ...")
        ws_url = f"ws://127.0.0.1:{gateway_port}/api/ws?token={token}"
        gw = await fanout(
            f"gateway WS fan-out to {args.clients} clients",
            "ws",
            ws_url,
            FEED_SUBJECT,
            feed_publish,
            args,
            cpu,
        )
    say("GET throughput ...")
    cookie, users = login(f"http://127.0.0.1:{gateway_port}")  # nothing else runs meanwhile
    http = [
        await http_run(
            "bare Litestar GET /hello (raw)", BARE, bare_port, "/hello", cookie, args, cpu
        ),
        await http_run(
            "gateway GET /api/auth/me", "gateway", gateway_port, "/api/auth/me", cookie, args, cpu
        ),
        await http_run(
            "gateway GET /api/admin/users",
            "gateway",
            gateway_port,
            "/api/admin/users",
            cookie,
            args,
            cpu,
        ),
    ]
    diagnostics = await component_diagnostics(redis_url, mongo_url, db_name, args)
    return report(args, rtt, raw, gw, http, diagnostics, users)


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
    token = secrets.token_urlsafe(24)

    def body(stack: Stack) -> str:
        servers = own_servers(stack)
        nats_url, redis_url, mongo_url = servers.nats_url, servers.redis_url, servers.mongo_url
        env = servers.env(db_name, token)
        services = stack.start_services(env, ["gateway"])
        bare = start_bare_app(stack, BARE)
        bare.wait()
        say(f"servers and gateway up; measuring (logs in {stack.logs}) ...")
        return asyncio.run(
            measure(
                args,
                nats_url,
                redis_url,
                mongo_url,
                db_name,
                services.ports["gateway"],
                bare.port,
                token,
                stack.cpu,
            )
        )

    return common.run(
        "kubeward-bench-gw-", body, me="bench (publisher)", scratch=("jetstream", "redis")
    )


if __name__ == "__main__":
    sys.exit(main())
