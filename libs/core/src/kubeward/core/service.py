"""The lifecycle every non-HTTP service shares: connect, serve health, run until signalled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from kubeward.core import bus
from kubeward.core.app_settings import AppSettings
from kubeward.core.health import Check, HealthServer, health_report
from kubeward.core.metrics import render
from kubeward.core.settings import BaseSettings
from kubeward.schemas.bus import RPC_HEALTH_PREFIX, STREAMS, metrics_subject


class ServiceContext:
    """What a running service holds: its NATS connection and health checks."""

    def __init__(self, name: str, settings: BaseSettings, nc: NATS) -> None:
        self.name = name
        self.settings = settings
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.checks: dict[str, Check] = {"nats": self._nats_ok}
        self.components: dict[str, object] = {}
        """The body's main objects by name (its store, its settings view), so in-process
        tests can look at the state the service sees."""
        self.metrics: CollectorRegistry | None = None
        """The service's own Prometheus registry, when its body sets one: answered on
        ``metrics_subject(name)`` for the gateway's ``/metrics`` and served on the health
        port's ``/metrics``."""

    async def _nats_ok(self) -> bool:
        return bool(self.nc.is_connected)


async def _health(ctx: ServiceContext, _msg: Msg) -> bytes:
    return msgspec.json.encode(await health_report(ctx.name, ctx.checks))


async def _metrics(registry: CollectorRegistry, _msg: Msg) -> bytes:
    return render(registry)


Body = Callable[[ServiceContext], AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def serving(
    name: str,
    settings: BaseSettings,
    body: Body,
    on_connection_lost: Callable[[], None] | None = None,
) -> AsyncIterator[ServiceContext]:
    """Connect to NATS, ensure the streams and run ``body`` for the duration of the block.

    ``body`` is an async context manager factory: it starts the service's workers on
    entry (registering health checks on the context) and drains them on exit. Tests use
    this to run a service in-process against real servers. ``on_connection_lost`` is
    called if the NATS connection closes for good while the block runs.
    """
    leaving = False

    async def closed() -> None:
        if not leaving and on_connection_lost is not None:
            on_connection_lost()

    nc = await bus.connect(settings.nats_url, name, closed_cb=closed)
    try:
        ctx = ServiceContext(name, settings, nc)
        await bus.ensure_streams(ctx.js, STREAMS, settings.nats_stream_replicas)
        async with body(ctx):
            subs = [
                await bus.serve_requests(
                    nc, RPC_HEALTH_PREFIX + name, partial(_health, ctx), queue=name
                )
            ]
            if ctx.metrics is not None:
                subs.append(
                    await bus.serve_requests(
                        nc, metrics_subject(name), partial(_metrics, ctx.metrics), queue=name
                    )
                )
            try:
                yield ctx
            finally:
                leaving = True
                for sub in subs:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
    finally:
        leaving = True
        with contextlib.suppress(Exception):
            await nc.close()


async def run_service(name: str, settings: BaseSettings, body: Body) -> None:
    """Run ``body`` (see :func:`serving`) and serve health until SIGINT/SIGTERM.

    If the NATS connection closes for good (nats-py gives up on some server errors
    whatever the reconnect policy), the service stops and exits with status 1 so that
    its supervisor (``make run``, Kubernetes) starts a fresh process: alive without a
    bus it would consume nothing and never recover.
    """
    log = logging.getLogger(f"kubeward.{name}")
    stop = asyncio.Event()
    lost = False

    def connection_lost() -> None:
        nonlocal lost
        lost = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serving(name, settings, body, on_connection_lost=connection_lost) as ctx:
        health = HealthServer(
            name, settings.health_host, settings.health_port, ctx.checks, ctx.metrics
        )
        await health.start()
        log.info("%s ready; health on %s:%d", name, settings.health_host, health.port)
        await stop.wait()
        if lost:
            log.error("%s lost its NATS connection for good; exiting to be restarted", name)
        log.info("%s stopping", name)
        await health.stop()
    if lost:
        raise SystemExit(1)


async def open_app_settings(ctx: ServiceContext, secret: str) -> AppSettings:
    """The admin settings for a service body: opened with ``secret`` (``SETTINGS_SECRET``),
    health-checked as ``settings`` and registered as the ``app_settings`` component. Close
    it when the body ends.

    Without a secret the service still runs, but cannot read the stored secrets (LLM key,
    webhook URLs): that is logged once here.
    """
    if not secret:
        logging.getLogger(f"kubeward.{ctx.name}").warning(
            "SETTINGS_SECRET is empty: stored secrets (LLM key, webhook URLs) cannot be read"
        )
        secret = secrets.token_urlsafe(32)
    app_settings = await AppSettings.open(
        ctx.js, secret, replicas=ctx.settings.nats_stream_replicas
    )
    ctx.checks["settings"] = app_settings.is_healthy
    ctx.components["app_settings"] = app_settings
    return app_settings


@contextlib.asynccontextmanager
async def nothing(_ctx: ServiceContext) -> AsyncIterator[None]:
    """A body for services that so far only join the bus and report health."""
    yield


def launch(name: str, settings_cls: type[BaseSettings], body: Body) -> None:
    """Load settings from the environment, configure logging and run until signalled."""
    from kubeward.core.logs import configure_logging
    from kubeward.core.settings import load_settings

    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level)
    asyncio.run(run_service(name, settings, body))
