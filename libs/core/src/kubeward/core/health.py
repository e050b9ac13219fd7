"""A tiny HTTP endpoint for ``/health``, ``/live`` and ``/metrics`` in services without a web
framework.

Health has three states. ``ok``: every check passes. ``degraded``: a dependency is
unreachable (NATS, MongoDB, the settings bucket): the service waits and recovers by itself,
so it is not ready (``/health`` answers 503) but alive (``/live`` answers 200). ``unhealthy``:
a liveness check fails (a consumer loop that stopped making progress): only a new process
helps, so ``/live`` answers 503 too and the service's own watchdog exits (see
:func:`kubeward.core.service.run_service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


OK = "ok"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


class HealthReport(msgspec.Struct, kw_only=True):
    """A service's health, as ``/health`` and the bus health request answer it."""

    status: str
    """``ok``, ``degraded`` or ``unhealthy`` (see the module's docstring)."""
    service: str
    checks: dict[str, bool]
    """Every readiness and liveness check by name (liveness ones prefixed ``live:``)."""


async def run_checks(checks: dict[str, Check]) -> tuple[bool, dict[str, bool]]:
    """Run every check (each bounded to two seconds); a check that raises has failed."""
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = await asyncio.wait_for(check(), 2.0)
        except Exception:
            results[name] = False
    return all(results.values()), results


async def health_report(
    service: str, checks: dict[str, Check], liveness: dict[str, Check] | None = None
) -> HealthReport:
    """The :class:`HealthReport` of ``service``: ``checks`` say whether it is ready,
    ``liveness`` whether it is alive."""
    ready, results = await run_checks(checks)
    alive, live_results = await run_checks(liveness or {})
    status = UNHEALTHY if not alive else OK if ready else DEGRADED
    results.update({f"live:{name}": ok for name, ok in live_results.items()})
    return HealthReport(status=status, service=service, checks=results)


class HealthServer:
    """Serves ``GET /health`` (200 when ``ok``, else 503, with the :class:`HealthReport`),
    ``GET /live`` (200 unless ``unhealthy``) and ``GET /metrics`` (the process's default
    registry, then the service's own ``registry`` if it has one)."""

    def __init__(
        self,
        service: str,
        host: str,
        port: int,
        checks: dict[str, Check],
        registry: CollectorRegistry | None = None,
        liveness: dict[str, Check] | None = None,
    ) -> None:
        self._service = service
        self._registry = registry
        self._host = host
        self._port = port
        self._checks = checks
        self._liveness = liveness if liveness is not None else {}
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) > 1 else "/"
            if path in ("/health", "/live"):
                report = await health_report(self._service, self._checks, self._liveness)
                body = msgspec.json.encode(report)
                ok = report.status == OK or (path == "/live" and report.status == DEGRADED)
                status, ctype = ("200 OK" if ok else "503 Service Unavailable"), "application/json"
            elif path == "/metrics":
                body = generate_latest(REGISTRY)
                if self._registry is not None:
                    body += generate_latest(self._registry)
                status, ctype = "200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, ctype = b'{"detail":"Not Found"}', "404 Not Found", "application/json"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
