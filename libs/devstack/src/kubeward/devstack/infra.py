"""NATS (JetStream), Redis and MongoDB (SecantusDB) as local child processes."""

from __future__ import annotations

from pathlib import Path

from kubeward.devstack.procs import Proc, find_binary, port_open


def nats(port: int, store: Path, logs: Path) -> Proc:
    """``nats-server -js`` on ``127.0.0.1:port`` storing streams under ``store``."""
    proc = Proc(
        "nats-server",
        [find_binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        logs / "nats.log",
    ).start()
    proc.wait_until(lambda: port_open(port), 20, f"NATS on port {port}")
    return proc


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


def mongo(port: int, storage: Path | None, logs: Path) -> Proc:
    """SecantusDB (MongoDB wire protocol) on ``127.0.0.1:port``; ``None`` storage is in memory."""
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
        ],
        logs / "mongo.log",
    ).start()
    proc.wait_until(lambda: port_open(port), 60, f"SecantusDB on port {port}")
    return proc
