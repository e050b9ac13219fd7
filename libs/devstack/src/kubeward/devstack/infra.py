"""NATS (JetStream), Redis and MongoDB (SecantusDB) as local child processes."""

from __future__ import annotations

import ctypes.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeward.devstack.procs import Proc, find_binary, free_port, http_ok, port_open


def nats(port: int, store: Path, logs: Path) -> Proc:
    """``nats-server -js`` on ``127.0.0.1:port`` storing streams under ``store``."""
    proc = Proc(
        "nats-server",
        [find_binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        logs / "nats.log",
    ).start()
    proc.wait_until(lambda: port_open(port), 20, f"NATS on port {port}")
    return proc


@dataclass
class NatsNode:
    """One member of a local JetStream cluster (see :func:`nats_cluster`)."""

    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store: Path
    log: Path
    routes: str
    proc: Proc | None = None

    @property
    def url(self) -> str:
        """The node's client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> Proc:
        """Start (or start again, on the same ports and store) ``nats-server -js``."""
        argv = [
            find_binary("nats-server"),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
            "-sd",
            str(self.store),
            "--server_name",
            self.name,
            "--cluster_name",
            "kubeward",
            "--cluster",
            f"nats://127.0.0.1:{self.cluster_port}",
            "--routes",
            self.routes,
        ]
        self.proc = Proc(self.name, argv, self.log).start()
        return self.proc

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the node's ``/healthz`` says ok: routes up and JetStream current
        with the cluster's meta leader."""
        assert self.proc is not None, "start the node first"
        url = f"http://127.0.0.1:{self.monitor_port}/healthz"
        self.proc.wait_until(lambda: http_ok(url), timeout, f"JetStream cluster health at {url}")


def nats_cluster(store: Path, logs: Path, size: int = 3) -> list[NatsNode]:
    """A ``size``-node NATS JetStream cluster on loopback ports, started and ready.

    Node ``i`` is ``kw-nats-<i>`` with its own ports and store ``store/<name>``, routed
    to every other node; streams on it can have up to ``size`` replicas.
    """
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{cluster}" for _, cluster, _ in ports)
    nodes = [
        NatsNode(
            name=f"kw-nats-{i}",
            port=client,
            cluster_port=cluster,
            monitor_port=monitor,
            store=store / f"kw-nats-{i}",
            log=logs / f"kw-nats-{i}.log",
            routes=routes,
        )
        for i, (client, cluster, monitor) in enumerate(ports)
    ]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            node.wait_ready()
    except Exception:
        for node in nodes:
            if node.proc is not None:
                node.proc.stop()
        raise
    return nodes


def cluster_url(nodes: Sequence[NatsNode]) -> str:
    """Every node's client URL, comma-separated (a ``NATS_URL`` value that fails over)."""
    return ",".join(node.url for node in nodes)


def redis(port: int, data: Path, logs: Path, persist: bool = True) -> Proc:
    """``redis-server`` on ``127.0.0.1:port``; ``persist`` keeps an append-only file in ``data``."""
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        find_binary("redis-server"),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--save",
        "",
    ]
    argv += ["--appendonly", "yes" if persist else "no"]
    proc = Proc("redis-server", argv, logs / "redis.log").start()
    proc.wait_until(lambda: port_open(port), 20, f"Redis on port {port}")
    return proc


MONGO_CACHE_SIZE = "256M"
"""SecantusDB's WiredTiger cache (its default is 1G). The cache is only part of the
process's memory: the server is Python, and documents a query reads are materialised as
Python objects on top of it; see the README's benchmark section for measured RSS."""


def _preloaded(library: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if library is not None:
        env["LD_PRELOAD"] = " ".join(filter(None, (env.get("LD_PRELOAD"), library)))
    return env


def jemalloc() -> str | None:
    """jemalloc's shared library (Debian's ``libjemalloc2``), ``None`` when not installed."""
    return ctypes.util.find_library("jemalloc")


def mongo(
    port: int,
    storage: Path | None,
    logs: Path,
    *,
    cache_size: str = MONGO_CACHE_SIZE,
    use_jemalloc: bool = True,
) -> Proc:
    """SecantusDB (MongoDB wire protocol) on ``127.0.0.1:port``; ``None`` storage is in memory.

    ``cache_size`` bounds WiredTiger's cache (``256M``, ``1G``, ...).

    With jemalloc (``use_jemalloc`` and the library installed, as ``scripts/install.sh``
    does) the server allocates through it instead of glibc's malloc: in ``bench.soak`` its
    memory grew 1.89x from minute 2 to 10 with glibc and 1.27x with jemalloc, at the same
    rates (glibc's arenas keep the freed memory of the documents a Python server builds
    and drops per request).

    Standalone: SecantusDB otherwise advertises a one-node replica set and writes an oplog
    entry (the whole document, for an insert) beside every write, kept an hour or 100 000
    entries. Nothing in Kubeward reads it (no change streams, no transactions); measured,
    it cost ~30 % of an insert and ~15 % of an update, and its growth was most of the
    server's memory growth in ``bench.soak``.
    """
    proc = Proc(
        "secantusdb",
        [
            find_binary("secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage) if storage is not None else ":memory:",
            "--log-level",
            "WARNING",
            "--cache-size",
            cache_size,
            "--standalone",
        ],
        logs / "mongo.log",
        env=_preloaded(jemalloc() if use_jemalloc else None),
    ).start()
    proc.wait_until(lambda: port_open(port), 60, f"SecantusDB on port {port}")
    return proc
