"""A tiny HTTP endpoint for ``/health`` and ``/metrics`` in services without a web framework."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


class HealthReport(msgspec.Struct, kw_only=True):
    """A service's health, as ``/health`` and the bus health request answer it."""

    status: str
    service: str
    checks: dict[str, bool]


async def run_checks(checks: dict[str, Check]) -> tuple[bool, dict[str, bool]]:
    """Run every check (each bounded to two seconds); a check that raises has failed."""
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = await asyncio.wait_for(check(), 2.0)
        except Exception:
            results[name] = False
    return all(results.values()), results


async def health_report(service: str, checks: dict[str, Check]) -> HealthReport:
    """The :class:`HealthReport` of ``service``."""
    ok, results = await run_checks(checks)
    return HealthReport(status="ok" if ok else "unhealthy", service=service, checks=results)


class HealthServer:
    """Serves ``GET /health`` (200 when every check passes, else 503) and ``GET /metrics``
    (the process's default registry, then the service's own ``registry`` if it has one)."""

    def __init__(
        self,
        service: str,
        host: str,
        port: int,
        checks: dict[str, Check],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._service = service
        self._registry = registry
        self._host = host
        self._port = port
        self._checks = checks
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

    async def report(self) -> tuple[bool, dict[str, bool]]:
        """Run every check (see :func:`run_checks`)."""
        return await run_checks(self._checks)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) > 1 else "/"
            if path == "/health":
                report = await health_report(self._service, self._checks)
                body = msgspec.json.encode(report)
                ok = report.status == "ok"
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
