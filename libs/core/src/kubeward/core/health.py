"""``/health``, ``/live`` and ``/metrics`` of the services without a web framework: FastStream's
ASGI routes, served by uvicorn.

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
import socket
from collections.abc import Awaitable, Callable, Iterator

import msgspec
import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
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
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        assert self._socket is not None
        return int(self._socket.getsockname()[1])

    def app(self) -> AsgiFastStream:
        """The ASGI app of the three routes (no broker: the service runs its own)."""
        return AsgiFastStream(
            asgi_routes=[
                ("/health", get(self._health, include_in_schema=False)),
                ("/live", get(self._live, include_in_schema=False)),
                ("/metrics", get(self._metrics, include_in_schema=False)),
            ],
            logger=log,
        )

    async def start(self) -> None:
        """Start listening (the port is bound when this returns)."""
        self._socket = socket.create_server((self._host, self._port))
        config = uvicorn.Config(
            self.app(),
            log_config=None,
            log_level="warning",  # the service logs where its health listens
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        started = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            self._task.result()  # the start-up's error
            raise RuntimeError("the health server stopped while starting")

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()

    async def _health(self, scope: Scope) -> AsgiResponse:
        return await self._report(alive_is_enough=False)

    async def _live(self, scope: Scope) -> AsgiResponse:
        return await self._report(alive_is_enough=True)

    async def _report(self, *, alive_is_enough: bool) -> AsgiResponse:
        report = await health_report(self._service, self._checks, self._liveness)
        ok = report.status == OK or (alive_is_enough and report.status == DEGRADED)
        return AsgiResponse(
            msgspec.json.encode(report),
            200 if ok else 503,
            {"content-type": "application/json"},
        )

    async def _metrics(self, scope: Scope) -> AsgiResponse:
        body = generate_latest(REGISTRY)
        if self._registry is not None:
            body += generate_latest(self._registry)
        return AsgiResponse(body, 200, {"content-type": CONTENT_TYPE_LATEST})


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the service owns SIGINT/SIGTERM and drains in
    its own order), telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()
