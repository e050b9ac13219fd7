"""The six Kubeward services as child processes, each on its own health port."""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from kubeward.devstack.procs import Proc, free_port, http_ok, port_open

SERVICES = ("ingest", "traffic_store", "failure_analyzer", "security", "mirror", "gateway")
DEFAULT_HEALTH_PORTS = {
    "ingest": 8081,
    "traffic_store": 8082,
    "failure_analyzer": 8083,
    "security": 8084,
    "mirror": 8085,
}


def pick_ports(gateway_port: int | None = None, defaults: bool = False) -> dict[str, int]:
    """A port per service: the defaults where free (``defaults=True``), else free ones."""
    ports: dict[str, int] = {}
    for name in SERVICES:
        wanted = gateway_port if name == "gateway" else DEFAULT_HEALTH_PORTS.get(name)
        if (name == "gateway" and wanted is not None) or (
            defaults and wanted is not None and not port_open(wanted)
        ):
            ports[name] = wanted
        else:
            ports[name] = free_port()
    return ports


class ServiceSet:
    """Starts, watches and stops the services with a shared environment."""

    def __init__(self, env: Mapping[str, str], ports: Mapping[str, int], logs: Path) -> None:
        self.env = dict(env)
        self.ports = dict(ports)
        self.logs = logs
        self.procs: dict[str, Proc] = {}

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def health_url(self, name: str) -> str:
        """Where ``name`` answers ``/health``."""
        return f"http://127.0.0.1:{self.ports[name]}/health"

    def start(self, name: str, wait: bool = True, timeout: float = 60.0) -> Proc:
        """Start one service (and wait until healthy unless ``wait`` is false)."""
        env = dict(self.env)
        if name == "gateway":
            env["HTTP_HOST"] = "127.0.0.1"
            env["HTTP_PORT"] = str(self.ports[name])
        else:
            env["HEALTH_HOST"] = "127.0.0.1"
            env["HEALTH_PORT"] = str(self.ports[name])
        proc = Proc(
            name, [sys.executable, "-m", f"kubeward.{name}"], self.logs / f"{name}.log", env
        )
        self.procs[name] = proc.start()
        if wait:
            self.wait_healthy(name, timeout)
        return proc

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        """Block until ``name`` answers 200 on ``/health``."""
        url = self.health_url(name)
        self.procs[name].wait_until(lambda: http_ok(url), timeout, f"healthy answer at {url}")

    def start_all(self, timeout: float = 90.0) -> None:
        """Start every service, then wait until each is healthy."""
        for name in SERVICES:
            self.start(name, wait=False)
        for name in SERVICES:
            self.wait_healthy(name, timeout)

    def stop(self, name: str) -> None:
        """Stop one service gracefully."""
        proc = self.procs.get(name)
        if proc is not None:
            proc.stop()

    def kill(self, name: str) -> None:
        """SIGKILL one service."""
        proc = self.procs.get(name)
        if proc is not None:
            proc.kill()

    def stop_all(self) -> None:
        """Stop every service: SIGTERM to all at once, then wait for each."""
        for proc in self.procs.values():
            proc.signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.stop()
