"""Soak: the whole system under mixed load for minutes; is memory flat, does anything fail?

Run by ``make bench`` (``uv run --no-sync python -m bench.soak [--minutes 10]`` from the
repository root; ``--help`` lists every option).

It starts its own nats-server, SecantusDB on disk (as ``make run`` does) and the six
services as processes (Redis: ``BENCH_REDIS_URL`` or the machine's), then for ``--minutes``
runs at once:

- collectors publishing pod traffic on ``kubeward.collect.pod-traffic`` at
  ``--traffic-rate`` events/s in messages of 50, ``--repeat-share`` of them repeat sightings
  of a known flow (each PubAck checked);
- agents posting realistic Kure reports (``kubeward.devstack.failure_reports.generate``) to
  ``POST /api/pods/failed`` at ``--report-rate`` per second;
- ``--listers`` dashboards each listing ``/api/pods/failed``, ``/pod/traffic`` and
  ``/api/security/findings`` (100 rows) in turn;
- ``--feeds`` WebSocket clients on ``/api/ws``.

It samples the resident memory (RSS) of every process each minute and prints it at minute
2 and at the end, with the ratio (issue 14 wants every process within +10 %), then every
minute's sample (a cache filling flattens, a leak keeps climbing), the rates reached, POST
and listing latencies (p50/p99), errors by kind, and feed frames received. It never asserts
anything; a process that dies is reported. ``--mongo-cache-size`` sets SecantusDB's
WiredTiger cache (default as ``make run``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import nats
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from bench.common import (
    BenchError,
    FreshMongo,
    Stack,
    consumer_state,
    machine_info,
    own_nats,
    run,
    say,
    service_env,
    version,
)
from bench.latency import quantile
from kubeward.devstack.failure_reports import generate
from kubeward.devstack.infra import MONGO_CACHE_SIZE, jemalloc
from kubeward.devstack.services import SERVICES
from kubeward.schemas import bus

TOKEN = "soak-service-token"
EVENTS_PER_MESSAGE = 50
ADMIN = {"username": "soak-admin", "password": "a long enough password"}
BACKLOGS = (
    (bus.COLLECT.name, f"{bus.CONSUMER_INGEST}-pod-traffic"),
    (bus.TRAFFIC.name, f"{bus.CONSUMER_TRAFFIC_STORE}-pod"),
    (bus.COLLECT.name, f"{bus.CONSUMER_INGEST}-pod-failures"),
    (bus.FAILURES.name, f"{bus.CONSUMER_FAILURE_ANALYZER}-reports"),
)
LISTINGS = (
    "/api/pods/failed?limit=100",
    "/pod/traffic?limit=100",
    "/api/security/findings?limit=100",
)


@dataclass
class Tally:
    """What the load saw."""

    events: int = 0
    reports: int = 0
    listings: int = 0
    frames: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    post_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (``None`` once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def memory(stack: Stack) -> dict[str, float]:
    """RSS in MB of every running server and service."""
    sizes: dict[str, float] = {}
    for proc in stack.all_procs():
        if proc.popen is not None and (mb := rss_mb(proc.popen.pid)) is not None:
            sizes[proc.name] = mb
    return sizes


def traffic_event(flow: int, at: float) -> dict[str, str]:
    """A kguardian sighting of flow ``flow`` at ``at`` (epoch seconds)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1e6) % 10**6:06d}"
    return {
        "uuid": str(uuid.uuid4()),
        "pod_name": f"web-{flow % 40}",
        "pod_namespace": f"ns-{flow % 7}",
        "pod_ip": f"10.1.{flow // 250 % 250}.{flow % 250}",
        "pod_port": "8080",
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": f"10.2.{flow // 250 % 250}.{flow % 250}",
        "traffic_in_out_port": str(1000 + flow % 50_000),
        "decision": "ALLOW",
        "time_stamp": stamp,
    }


async def publish_traffic(
    nats_url: str, rate: float, repeat_share: float, until: float, tally: Tally
) -> None:
    """Publish ``rate`` events/s until ``until`` (loop time); each PubAck checked."""
    nc = await nats.connect(nats_url, connect_timeout=10)
    js = nc.jetstream()
    rng = random.Random(5)
    flows = 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while loop.time() < until:
            due = (loop.time() - started) * rate
            if tally.events + EVENTS_PER_MESSAGE > due:
                await asyncio.sleep(EVENTS_PER_MESSAGE / rate / 4)
                continue
            events = []
            for _ in range(EVENTS_PER_MESSAGE):
                if rng.random() >= repeat_share:
                    flows += 1
                events.append(traffic_event(rng.randrange(flows), time.time()))
            try:
                await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(events), timeout=10)
                tally.events += EVENTS_PER_MESSAGE
            except Exception as exc:
                tally.errors[f"traffic publish: {type(exc).__name__}"] += 1
    finally:
        await nc.close()


async def post_reports(api: httpx.AsyncClient, rate: float, until: float, tally: Tally) -> None:
    """Post realistic Kure reports at ``rate``/s until ``until``."""
    workload = generate(2000, repeat_share=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    while loop.time() < until:
        if sent > (loop.time() - started) * rate:
            await asyncio.sleep(0.5 / rate)
            continue
        body = workload.messages[sent % len(workload.messages)]
        sent += 1
        began = time.perf_counter()
        try:
            resp = await api.post(
                "/api/pods/failed", content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            tally.errors[f"POST: {type(exc).__name__}"] += 1
            continue
        tally.post_ms.append((time.perf_counter() - began) * 1000)
        if resp.status_code >= 300:
            tally.errors[f"POST: {resp.status_code}"] += 1
        else:
            tally.reports += 1


async def list_continuously(api: httpx.AsyncClient, until: float, tally: Tally) -> None:
    """A dashboard paging its lists one after another until ``until``."""
    loop = asyncio.get_running_loop()
    turn = 0
    while loop.time() < until:
        path = LISTINGS[turn % len(LISTINGS)]
        turn += 1
        began = time.perf_counter()
        try:
            resp = await api.get(path)
        except httpx.HTTPError as exc:
            tally.errors[f"GET: {type(exc).__name__}"] += 1
            continue
        tally.list_ms.append((time.perf_counter() - began) * 1000)
        if resp.status_code >= 300:
            tally.errors[f"GET {path.split('?')[0]}: {resp.status_code}"] += 1
        else:
            tally.listings += 1
        await asyncio.sleep(0.2)


async def follow_feed(url: str, until: float, tally: Tally) -> None:
    """One WebSocket client counting frames until ``until``; reconnects when dropped."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            async with ws_connect(url, open_timeout=10) as ws:
                while loop.time() < until:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), 1.0)
                        tally.frames += 1
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            tally.errors[f"feed: {type(exc).__name__}"] += 1
            await asyncio.sleep(1)


async def soak(stack: Stack, args: argparse.Namespace, nats_url: str, gateway: str) -> str:
    """Run the load, sample memory each minute, and write the report."""
    tally = Tally()
    loop = asyncio.get_running_loop()
    seconds = args.minutes * 60
    until = loop.time() + seconds
    headers = {"X-Service-Token": TOKEN}
    samples: dict[int, dict[str, float]] = {0: memory(stack)}
    async with (
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as api,
        httpx.AsyncClient(base_url=gateway, timeout=30) as dashboard,
    ):
        signup = await dashboard.post("/api/auth/signup", json=ADMIN)
        if signup.status_code != 201:
            raise BenchError(f"signup answered {signup.status_code}: {signup.text[:200]}")
        load = [
            publish_traffic(nats_url, args.traffic_rate, args.repeat_share, until, tally),
            post_reports(api, args.report_rate, until, tally),
            *(list_continuously(dashboard, until, tally) for _ in range(args.listers)),
            *(
                follow_feed(f"{gateway.replace('http', 'ws')}/api/ws?token={TOKEN}", until, tally)
                for _ in range(args.feeds)
            ),
        ]
        tasks = [asyncio.create_task(job) for job in load]
        minute = 0
        while loop.time() < until:
            await asyncio.sleep(min(60.0, max(0.0, until - loop.time())))
            minute += 1
            samples[minute] = memory(stack)
            say(
                f"minute {minute}: {tally.events} events, {tally.reports} reports, "
                f"{tally.listings} listings, {sum(tally.errors.values())} errors"
            )
        await asyncio.gather(*tasks)
    nc = await nats.connect(nats_url)
    backlog = {
        durable: (await consumer_state(nc.jetstream(), stream, durable))[1]
        for stream, durable in BACKLOGS
    }
    await nc.close()
    return report(args, samples, tally, seconds, backlog)


def report(
    args: argparse.Namespace,
    samples: dict[int, dict[str, float]],
    tally: Tally,
    seconds: float,
    backlog: dict[str, int],
) -> str:
    """The table of memory per process and what the load achieved."""
    last = max(samples)
    early = samples.get(min(2, last), samples[0])
    lines = [
        *machine_info(f"secantusdb {version('secantusdb')} ({mongo_malloc(args)} malloc)"),
        f"soak      {args.minutes} min: traffic {args.traffic_rate:.0f} events/s "
        f"({args.repeat_share:.0%} repeats), {args.report_rate:.0f} reports/s, "
        f"{args.listers} listers, {args.feeds} feed clients",
        "",
        f"{'process':<18}{'RSS min 2':>12}{'RSS end':>12}{'end/min 2':>11}",
    ]
    for name in sorted(samples[last] | early):
        start, end = early.get(name), samples[last].get(name)
        if start is None or end is None:
            lines.append(f"{name:<18}{'gone' if end is None else 'new':>12}")
            continue
        flag = "  > +10 %" if end > start * 1.10 else ""
        lines.append(f"{name:<18}{start:>10.0f}MB{end:>10.0f}MB{end / start:>11.2f}{flag}")
    lines += ["", "RSS each minute (MB), from minute 0:"]
    for name in sorted(samples[last]):
        series = " ".join(
            f"{samples[m][name]:.0f}" if name in samples[m] else "-" for m in sorted(samples)
        )
        lines.append(f"  {name:<18}{series}")
    lines += [
        "",
        f"traffic   {tally.events / seconds:,.0f} events/s published and acked",
        f"reports   {tally.reports / seconds:,.1f} /s stored; POST p50 "
        f"{quantile(tally.post_ms, 0.5):.0f} ms, p99 {quantile(tally.post_ms, 0.99):.0f} ms",
        f"listings  {tally.listings / seconds:,.1f} /s; p50 {quantile(tally.list_ms, 0.5):.0f} "
        f"ms, p99 {quantile(tally.list_ms, 0.99):.0f} ms",
        f"feed      {tally.frames:,} frames to {args.feeds} clients",
        "backlog   "
        + ", ".join(f"{durable} {n:,}" for durable, n in backlog.items())
        + " messages not yet consumed at the end",
        "errors    " + (", ".join(f"{k} x{n}" for k, n in tally.errors.most_common()) or "none"),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--traffic-rate", type=float, default=2000.0, help="events/s")
    parser.add_argument("--repeat-share", type=float, default=0.95)
    parser.add_argument("--report-rate", type=float, default=10.0, help="reports/s")
    parser.add_argument("--listers", type=int, default=4)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument(
        "--mongo-cache-size",
        default=MONGO_CACHE_SIZE,
        help="SecantusDB's WiredTiger cache (default %(default)s)",
    )
    parser.add_argument(
        "--mongo-malloc",
        choices=("jemalloc", "glibc"),
        default="jemalloc",
        help="SecantusDB's allocator (default %(default)s, as make run when installed)",
    )
    return parser.parse_args(argv)


def mongo_malloc(args: argparse.Namespace) -> str:
    """The allocator SecantusDB runs with."""
    return args.mongo_malloc if args.mongo_malloc == "glibc" or jemalloc() else "glibc"


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, soak, print the report."""
    args = parse_args(argv)

    def body(stack: Stack) -> str:
        nats_url = own_nats(stack)
        mongo_url = FreshMongo(
            stack,
            disk=True,
            cache_size=args.mongo_cache_size,
            use_jemalloc=args.mongo_malloc == "jemalloc",
        )()
        env = service_env(
            nats_url,
            mongo_url,
            "kubeward_soak",
            SERVICE_TOKEN=TOKEN,
            SESSION_SECRET="soak-session-secret",
            SETTINGS_SECRET="soak-settings-secret-0123456789",
        )
        services = stack.start_services(env, SERVICES, timeout=90)
        say(f"soaking for {args.minutes} min")
        try:
            return asyncio.run(soak(stack, args, nats_url, services.gateway_url))
        except Exception as exc:
            raise BenchError(f"soak failed: {exc}") from exc

    return run("kubeward-soak-", body)


if __name__ == "__main__":
    raise SystemExit(main())
