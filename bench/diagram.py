"""Namespace graph benchmark: ``GET /api/diagram/namespace/{ns}`` of a 500-pod namespace,
with the gateway's list cache off and on.

Run by ``make bench`` (``uv run --no-sync python -m bench.diagram [--pods P] [--deployments
D] [--services S] [--requests N]`` from the repository root; ``--help`` lists every option).

There is no real API server here: the cluster is kmock's ``KubernetesEmulator`` (an
in-memory Kubernetes API on aiohttp), run as a process of its own on a free port and seeded
with one namespace by :func:`kubeward.devstack.k8s_namespace.build_namespace` (shared with
the gateway's diagram tests), deterministically: D Deployments, each with a ReplicaSet (owned by it)
and its share of the P Pods (owned by the ReplicaSet, labelled to match the Deployment's
selector, with a ServiceAccount, ``envFrom``/``env`` references to a ConfigMap and Secrets,
ConfigMap/Secret/projected volumes, a PVC for every fourth Deployment, pull secrets, status
and a ``managedFields`` entry, as a real API server lists them); S Services selecting
Deployments' Pods; a ConfigMap per Deployment; an Ingress per ten Services routing to them.
The kinds the namespace has none of are declared, so their lists answer 200 and ``[]``.
kmock keeps every request for test assertions and matches each new one against all of them;
the bench's emulator forgets a request once answered, so a list costs the same all run long.

In one run it measures, one request at a time:

1. the raw limit: the list calls the gateway makes for one namespace graph (the twelve
   kinds of ``NAMESPACE_KINDS``), concurrently on the event loop, with the gateway's own
   client (:class:`kubeward.kube.client.KubeClient` over ``kubernetes_asyncio``,
   ``_preload_content=False``: undecoded bytes), as the gateway does, against the same
   emulator — time per fetch of all twelve;
2. the gateway (``python -m kubeward.gateway``, one uvicorn worker, ``KUBECONFIG`` pointing
   at the emulator, on its own nats-server, SecantusDB and redis-server) with
   ``DIAGRAM_CACHE_SECONDS=0``: every request lists the namespace again;
3. the same with the cache on (``--cache-seconds``, long enough that no entry expires during
   the run): the lists are reused, the graph is still built and serialised per request;
4. the bare Litestar app of ``bench/bare_app.py`` (raw limit of the cached figure: what a
   GET costs with no work behind it, same uvicorn setup and client).

The HTTP requests come from this process (a minimal HTTP/1.1 client on asyncio streams, one
keep-alive connection, one request at a time), logged in with a session cookie as the
first dashboard user. Both gateways start together; each is measured alone. As a diagnostic
it also times, in this process, decoding the fetched lists, ``namespace_diagram`` and the
JSON encoding of the graph. It checks the graph (a node per Pod, Deployment and Service;
edges present) so a broken seed fails loudly, prints p50/mean/p99 per measurement, the CPU
each process used per request and the ratios; it never asserts a timing. Every process it
starts is stopped on exit, error, Ctrl-C or SIGTERM (see :mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
from kubernetes_asyncio import client as k8s

from bench import common
from bench.common import (
    BenchError,
    Stack,
    binary_version,
    cpu_delta,
    cpu_line,
    machine_info,
    own_servers,
    ratio_line,
    say,
)
from bench.common import version as dist_version
from bench.http1 import SESSION_COOKIE, connection, exchange, get_request, start_bare_app
from bench.latency import percentile, sorted_ms
from kubeward.devstack.k8s_namespace import Obj, build_namespace, seed_emulator
from kubeward.devstack.kube_emulator import write_kubeconfig
from kubeward.devstack.procs import Proc, free_port, http_ok, port_open
from kubeward.gateway.diagram_graph import NAMESPACE_KINDS, namespace_diagram
from kubeward.kube.client import KubeClient, load_client

ROOT = Path(__file__).resolve().parents[1]
BARE = "bare-litestar"
EMULATOR = "kmock"
GW_OFF = "gateway (cache off)"
GW_ON = "gateway (cached)"
USER = "bench-admin"
PASSWORD = "bench-password-" + secrets.token_hex(4)

RATIO_UNCACHED = "namespace graph uncached / raw API fetch"
RATIO_CACHED = "namespace graph cached / bare Litestar GET"

# --- The emulator process -------------------------------------------------------------------


def serve_emulator(args: argparse.Namespace) -> None:
    """Entry point of the emulator process: kmock's ``KubernetesEmulator`` on
    ``127.0.0.1:<--emulator>``, seeded with :func:`build_namespace`, until SIGTERM."""
    import aiohttp.web
    import kmock  # only this process needs them

    objects = build_namespace(args.namespace, args.pods, args.deployments, args.services)

    class Emulator(kmock.KubernetesEmulator):
        """Forgets each request once answered: kmock keeps every request for assertions and
        matches each new one against all of them, so a list call would cost more the longer
        the emulator runs (measured: 112 ms per fetch of the twelve lists at first, 440 ms
        after 600 calls); here every one costs the same."""

        async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
            try:
                return await super()._handle(request)
            finally:
                for seen in (self._requests, *(p._requests for p in self._payloads)):
                    with contextlib.suppress(ValueError):
                        seen.remove(request)

    async def serve() -> None:
        async with Emulator() as emulator:
            seed_emulator(emulator, args.namespace, objects)
            async with kmock.Server(emulator, port=args.emulator):
                await asyncio.Event().wait()

    asyncio.run(serve())


# --- Measurements ---------------------------------------------------------------------------


@dataclass
class Timing:
    """Sequential latencies of one measurement and the CPU each process used meanwhile."""

    label: str
    server: str
    """The process that serves (its CPU is reported per request)."""
    ms: list[float]
    """Milliseconds, ascending."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds per process during the measurement."""

    @property
    def count(self) -> int:
        """Samples."""
        return len(self.ms)

    @property
    def p50(self) -> float:
        """Median."""
        return statistics.median(self.ms) if self.ms else math.nan

    @property
    def mean(self) -> float:
        """Arithmetic mean."""
        return statistics.fmean(self.ms) if self.ms else math.nan

    @property
    def p99(self) -> float:
        """Nearest-rank 99th percentile."""
        return percentile(self.ms, 0.99)

    def cpu_ms(self, name: str) -> float:
        """CPU milliseconds of process ``name`` per sample (NaN when not measured)."""
        return self.cpu.get(name, math.nan) * 1e3 / max(1, self.count)


class RawFetcher:
    """The gateway's list calls for one namespace with the gateway's client, undecoded."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        api = kube.api_client
        core = kube.core
        apps = k8s.AppsV1Api(api)
        batch = k8s.BatchV1Api(api)
        networking = k8s.NetworkingV1Api(api)
        self.namespace = namespace
        self.lists: dict[str, Callable[..., Any]] = {
            "Deployment": apps.list_namespaced_deployment,
            "ReplicaSet": apps.list_namespaced_replica_set,
            "StatefulSet": apps.list_namespaced_stateful_set,
            "DaemonSet": apps.list_namespaced_daemon_set,
            "Job": batch.list_namespaced_job,
            "CronJob": batch.list_namespaced_cron_job,
            "Pod": core.list_namespaced_pod,
            "Service": core.list_namespaced_service,
            "Ingress": networking.list_namespaced_ingress,
            "ConfigMap": core.list_namespaced_config_map,
            "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim,
            "ServiceAccount": core.list_namespaced_service_account,
        }
        if set(self.lists) != set(NAMESPACE_KINDS):
            raise BenchError(
                f"the gateway lists {sorted(NAMESPACE_KINDS)}; this bench {sorted(self.lists)}"
            )

    async def fetch(self) -> dict[str, bytes]:
        """Every list's body, the calls concurrent (as the gateway's ``asyncio.gather``)."""
        bodies = await asyncio.gather(
            *(self.kube.raw(method, self.namespace) for method in self.lists.values())
        )
        return dict(zip(self.lists, bodies, strict=True))


async def raw_fetch(
    kubeconfig: Path,
    namespace: str,
    count: int,
    cpu: Callable[[], dict[str, float]],
) -> tuple[Timing, dict[str, bytes]]:
    """``count`` sequential fetches of the twelve lists after three warm-ups; the timing and
    the last fetch's bodies."""
    kube = await load_client(str(kubeconfig), "", 10.0, environ={})
    if kube is None:
        raise BenchError("no client from the emulator's kubeconfig")
    fetcher = RawFetcher(kube, namespace)
    try:
        for _ in range(3):
            bodies = await fetcher.fetch()
        ns: list[int] = []
        before = cpu()
        for _ in range(count):
            started = time.perf_counter_ns()
            bodies = await fetcher.fetch()
            ns.append(time.perf_counter_ns() - started)
        after = cpu()
    finally:
        await kube.close()
    label = f"raw: the {len(bodies)} list calls, the gateway's client, concurrent"
    return Timing(label, "bench", sorted_ms(ns), cpu_delta(before, after)), bodies


@dataclass
class Breakdown:
    """Milliseconds (median of a few passes, in this process) of the gateway's steps after
    the fetch."""

    decode: float
    build: float
    encode: float
    objects: int
    body_bytes: int


_decode = msgspec.json.Decoder(dict[str, Any])


def breakdown(namespace: str, bodies: dict[str, bytes], passes: int = 5) -> Breakdown:
    """Decode the lists as the gateway does, build the graph, encode it as JSON; timed."""
    decode, build, encode = [], [], []
    objects: dict[str, list[Obj]] = {}
    body = b""
    for _ in range(passes):
        t0 = time.perf_counter()
        objects = {}
        for kind, raw in bodies.items():
            items = _decode.decode(raw).get("items")
            objects[kind] = (
                [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
            )
        t1 = time.perf_counter()
        diagram = namespace_diagram(namespace, objects)
        t2 = time.perf_counter()
        body = msgspec.json.encode(diagram)
        t3 = time.perf_counter()
        decode.append(t1 - t0)
        build.append(t2 - t1)
        encode.append(t3 - t2)
    return Breakdown(
        decode=statistics.median(decode) * 1e3,
        build=statistics.median(build) * 1e3,
        encode=statistics.median(encode) * 1e3,
        objects=sum(len(v) for v in objects.values()),
        body_bytes=len(body),
    )


async def http_timing(
    label: str,
    server: str,
    port: int,
    path: str,
    cookie: str,
    requests: int,
    warmup: int,
    cpu: Callable[[], dict[str, float]],
) -> Timing:
    """``requests`` sequential GETs of ``path`` on one keep-alive connection, after
    ``warmup``, with a minimal HTTP/1.1 client on asyncio streams (this process does nothing
    else meanwhile); every answer must be 200."""
    request = get_request(port, path, cookie)
    ns: list[int] = []
    async with connection(port) as streams:

        async def one() -> None:
            status, head, body = await exchange(streams, request)
            if status != 200:
                raise BenchError(f"{label}: answered {status}: {(head + body)[:300]!r}")

        for _ in range(warmup):
            await one()
        before = cpu()
        for _ in range(requests):
            started = time.perf_counter_ns()
            await one()
            ns.append(time.perf_counter_ns() - started)
        after = cpu()
    return Timing(label, server, sorted_ms(ns), cpu_delta(before, after))


def login(base: str) -> str:
    """Sign up the first user (an admin) unless one exists, log in; the session cookie."""
    with httpx.Client(base_url=base, timeout=30) as client:
        body = {"username": USER, "password": PASSWORD}
        signup = client.post("/api/auth/signup", json=body)
        client.cookies.clear()
        answer = client.post("/api/auth/login", json=body)
        cookie = answer.cookies.get(SESSION_COOKIE)
        if answer.status_code != 200 or not cookie:
            raise BenchError(
                f"login answered {answer.status_code}: {answer.text[:200]} "
                f"(signup answered {signup.status_code}: {signup.text[:200]})"
            )
        return cookie


@dataclass
class Graph:
    """What one answer of the endpoint holds."""

    nodes: int
    edges: int
    groups: int
    body_bytes: int
    by_kind: dict[str, int]
    edge_kinds: dict[str, int]


def fetch_graph(base: str, path: str, cookie: str, args: argparse.Namespace) -> Graph:
    """One answer, checked: a node per Pod, Deployment and Service, and edges."""
    with httpx.Client(base_url=base, timeout=60, cookies={SESSION_COOKIE: cookie}) as client:
        answer = client.get(path)
    if answer.status_code != 200:
        raise BenchError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    body = answer.json()
    nodes, edges = body["nodes"], body["edges"]
    by_kind: dict[str, int] = {}
    for node in nodes:
        by_kind[node["kind"]] = by_kind.get(node["kind"], 0) + 1
    edge_kinds: dict[str, int] = {}
    for edge in edges:
        edge_kinds[edge["kind"]] = edge_kinds.get(edge["kind"], 0) + 1
    wanted = {"Pod": args.pods, "Deployment": args.deployments, "Service": args.services}
    wrong = {k: (by_kind.get(k, 0), n) for k, n in wanted.items() if by_kind.get(k, 0) != n}
    if wrong or len(nodes) < args.pods + args.deployments + args.services or not edges:
        raise BenchError(
            f"the graph has {len(nodes)} nodes, {len(edges)} edges; (found, seeded) by kind "
            f"{wrong}: the seed or the graph is broken"
        )
    return Graph(
        len(nodes), len(edges), len(body["groups"]), len(answer.content), by_kind, edge_kinds
    )


# --- Report -------------------------------------------------------------------------------


def _ratio(label: str, value: float) -> str:
    return ratio_line(label, value, "{value:,.1f}x the raw latency", width=44)


def report(
    args: argparse.Namespace,
    seeded: dict[str, list[Obj]],
    graph: Graph,
    raw: Timing,
    raw_bytes: int,
    steps: Breakdown,
    runs: list[Timing],
    bare: Timing,
) -> str:
    """The table and the ratios (p50 against p50)."""
    uncached, cached = runs
    lines = [
        *machine_info(
            f"kmock {dist_version('kmock')} (KubernetesEmulator, "
            f"aiohttp {dist_version('aiohttp')}), "
            f"kubernetes_asyncio {dist_version('kubernetes_asyncio')}, "
            f"litestar {dist_version('litestar')}, "
            f"uvicorn {dist_version('uvicorn')}, msgspec {dist_version('msgspec')}, "
            f"nats-server {binary_version('nats-server')}, "
            f"redis-server {binary_version('redis-server')}, "
            f"SecantusDB {dist_version('secantusdb')}"
        ),
        "",
    ]
    others = ", ".join(
        f"{len(items)} {kind}"
        for kind, items in seeded.items()
        if items and kind not in ("Pod", "Deployment", "Service")
    )
    total = sum(len(items) for items in seeded.values())
    lines.append(
        f"namespace of P={args.pods} pods, D={args.deployments} deployments, "
        f"S={args.services} services in '{args.namespace}' (+ {others}; {total} objects, "
        f"{raw_bytes / 1e6:.2f} MB of JSON over {len(seeded)} list calls)"
    )
    lines.append(
        f"graph     {graph.nodes} nodes, {graph.edges} edges, {graph.groups} groups; "
        f"{graph.body_bytes / 1e3:,.0f} kB of JSON per answer; edges: "
        + ", ".join(f"{n} {k}" for k, n in sorted(graph.edge_kinds.items()))
    )
    lines.append(
        f"requests  one at a time on one keep-alive connection from this process; "
        f"uncached: DIAGRAM_CACHE_SECONDS=0, N={uncached.count} after 2 warm-ups; cached: "
        f"DIAGRAM_CACHE_SECONDS={args.cache_seconds:g}, N={cached.count} after "
        f"{max(1, args.requests // 20)} warm-up(s)"
    )
    head = (
        f"{'measurement':<58}{'n':>5}{'p50 ms':>9}{'mean ms':>9}{'p99 ms':>9}"
        f"{'server CPU ms':>15}{'kmock CPU ms':>14}"
    )
    lines += ["", head, "-" * len(head)]
    for timing in (raw, uncached, cached, bare):
        lines.append(
            f"{timing.label:<58}{timing.count:>5}{timing.p50:>9.2f}{timing.mean:>9.2f}"
            f"{timing.p99:>9.2f}{timing.cpu_ms(timing.server):>15.2f}{timing.cpu_ms(EMULATOR):>14.2f}"
        )
    lines.append(
        "  (CPU ms per request: the serving process's (for the raw fetch: this process's) "
        "and the emulator's; this process is the client throughout)"
    )
    for timing in (raw, *runs, bare):
        used = cpu_line(timing.cpu) or "none of 0.05 s or more"
        lines.append(f"  {timing.label}: CPU seconds {used}")
    lines.append(
        f"  in-process, this process, on the fetched lists (median of 5): decode "
        f"{steps.decode:.1f} ms, namespace_diagram {steps.build:.1f} ms, JSON encode "
        f"{steps.encode:.1f} ms ({steps.objects} objects in, {steps.body_bytes / 1e3:,.0f} kB out)"
    )
    lines += ["", "ratios (same run; p50 over p50, lower is better)"]
    lines.append(_ratio(RATIO_UNCACHED, uncached.p50 / raw.p50))
    lines.append(_ratio(RATIO_CACHED, cached.p50 / bare.p50))
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=500, help="pods in the namespace (P)")
    parser.add_argument("--deployments", type=int, default=100, help="deployments (D)")
    parser.add_argument("--services", type=int, default=50, help="services (S)")
    parser.add_argument(
        "--requests", type=int, default=200, help="cached requests (and bare Litestar GETs)"
    )
    parser.add_argument(
        "--uncached-requests",
        type=int,
        default=30,
        help="uncached requests (and raw fetches of the lists)",
    )
    parser.add_argument(
        "--cache-seconds",
        type=float,
        default=3600.0,
        help="DIAGRAM_CACHE_SECONDS of the cached run (longer than the run: every request hits)",
    )
    parser.add_argument("--namespace", default="shop", help="the namespace's name")
    parser.add_argument("--emulator", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.pods, args.deployments, args.requests, args.uncached_requests) < 1:
        parser.error("--pods, --deployments and the request counts must be positive")
    if args.services < 0 or args.cache_seconds <= 0:
        parser.error("--services must not be negative, --cache-seconds must be positive")
    return args


def _sizes(args: argparse.Namespace) -> list[str]:
    return [
        "--pods",
        str(args.pods),
        "--deployments",
        str(args.deployments),
        "--services",
        str(args.services),
        "--namespace",
        args.namespace,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    if args.emulator:
        serve_emulator(args)
        return 0
    seeded = build_namespace(args.namespace, args.pods, args.deployments, args.services)
    path = f"/api/diagram/namespace/{args.namespace}"

    def body(stack: Stack) -> str:
        root = stack.root
        emulator_port = free_port()
        env_path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        emulator = stack.track(
            Proc(
                EMULATOR,
                [
                    sys.executable,
                    "-m",
                    "bench.diagram",
                    "--emulator",
                    str(emulator_port),
                    *_sizes(args),
                ],
                stack.logs / "kmock.log",
                dict(os.environ) | {"PYTHONPATH": env_path},
            ).start()
        )
        servers = own_servers(stack)
        bare = start_bare_app(stack, BARE)
        kubeconfig = root / "kubeconfig.json"
        write_kubeconfig(kubeconfig, f"http://127.0.0.1:{emulator_port}")
        env = servers.env(f"kw_bench_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(24)) | {
            "KUBECONFIG": str(kubeconfig),
            "HTTP_HOST": "127.0.0.1",
        }
        env.pop("KUBE_CONTEXT", None)
        # Both gateways start together (their start-up is most of a small run's time); each
        # is measured alone, the other idle, and the uncached one is stopped after its turn.
        gateways = []
        for name, cache in ((GW_OFF, 0.0), (GW_ON, args.cache_seconds)):
            port = free_port()
            gw_env = env | {"HTTP_PORT": str(port), "DIAGRAM_CACHE_SECONDS": f"{cache:g}"}
            command = [sys.executable, "-m", "kubeward.gateway"]
            log = stack.logs / f"{name.replace(' ', '-').strip('()')}.log"
            gateways.append((stack.track(Proc(name, command, log, gw_env).start()), port))
        emulator.wait_until(lambda: port_open(emulator_port), 60, "a listening port")
        bare.wait()
        for proc, port in gateways:
            health = f"http://127.0.0.1:{port}/health"
            proc.wait_until(partial(http_ok, health), 90, f"a healthy answer at {health}")

        say(f"raw fetch of the lists, {args.uncached_requests} times ...")
        raw, bodies = asyncio.run(
            raw_fetch(kubeconfig, args.namespace, args.uncached_requests, stack.cpu)
        )
        raw_bytes = sum(len(b) for b in bodies.values())
        steps = breakdown(args.namespace, bodies)
        say(f"bare Litestar GET, {args.requests} requests ...")
        bare_run = asyncio.run(
            http_timing(
                "raw: bare Litestar GET /hello",
                BARE,
                bare.port,
                "/hello",
                "",
                args.requests,
                max(10, args.requests // 10),
                stack.cpu,
            )
        )
        runs: list[Timing] = []
        graph: Graph | None = None
        for (proc, port), (count, warmup) in zip(
            gateways,
            ((args.uncached_requests, 2), (args.requests, max(1, args.requests // 20))),
            strict=True,
        ):
            base = f"http://127.0.0.1:{port}"
            cookie = login(base)
            if graph is None:
                graph = fetch_graph(base, path, cookie, args)
            label = f"gateway GET {path}, " + (
                "cache off" if proc.name == GW_OFF else "lists cached"
            )
            say(f"{label}, {count} requests ...")
            runs.append(
                asyncio.run(
                    http_timing(label, proc.name, port, path, cookie, count, warmup, stack.cpu)
                )
            )
            if proc.name == GW_OFF:
                proc.stop()
        assert graph is not None
        return report(args, seeded, graph, raw, raw_bytes, steps, runs, bare_run)

    return common.run("kubeward-bench-diagram-", body, scratch=("jetstream", "redis"))


if __name__ == "__main__":
    sys.exit(main())
