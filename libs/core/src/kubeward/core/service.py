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

from kubeward.core import bus, heap
from kubeward.core.app_settings import AppSettings
from kubeward.core.batch_consumers import BatchConsumer, BusRuntime
from kubeward.core.health import Check, HealthServer, health_report, run_checks
from kubeward.core.metrics import render
from kubeward.core.settings import BaseSettings
from kubeward.schemas.bus import RPC_HEALTH_PREFIX, STREAMS, metrics_subject
from kubeward.schemas.setting_key import KeyRegistry


class ServiceContext:
    """What a running service holds: its NATS connection and health checks."""

    def __init__(self, name: str, settings: BaseSettings, nc: NATS, runtime: BusRuntime) -> None:
        self.name = name
        self.settings = settings
        self.nc = nc
        self._runtime = runtime
        self.js: JetStreamContext = nc.jetstream()
        self.checks: dict[str, Check] = {"nats": self._nats_ok}
        """Readiness: the dependencies answer (``degraded`` while one does not)."""
        self.liveness: dict[str, Check] = {}
        """Liveness: the service's loops make progress (``unhealthy`` when one does not;
        the watchdog of :func:`run_service` then exits for a fresh process)."""
        self.components: dict[str, object] = {}
        """The body's main objects by name (its store, its settings view), so in-process
        tests can look at the state the service sees."""
        self.metrics: CollectorRegistry | None = None
        """The service's own Prometheus registry, when its body sets one: answered on
        ``metrics_subject(name)`` for the gateway's ``/metrics`` and served on the health
        port's ``/metrics``."""

    async def _nats_ok(self) -> bool:
        return bool(self.nc.is_connected)

    def watch(self, consumer: BatchConsumer) -> None:
        """Report ``consumer`` in health as ``consumer:<durable>``: ready while its fetches
        reach the server, alive while its loop comes round."""
        name = f"consumer:{consumer.durable}"
        self.checks[name] = consumer.is_healthy
        self.liveness[name] = consumer.is_moving

    def bus_runtime(self) -> BusRuntime:
        """The service's FastStream runtime for its batch consumers and responders; its
        connection is :attr:`nc`."""
        return self._runtime

    async def start_runtime(self, runtime: BusRuntime) -> None:
        """Start ``runtime`` (:meth:`bus_runtime`): its consumers and responders, the bus
        health request and, when the body set :attr:`metrics` by now, the metrics one; report
        its connection and each consumer in health (stop it with :meth:`BusRuntime.stop`,
        which drains the batches in hand)."""
        runtime.requests(RPC_HEALTH_PREFIX + self.name, partial(_health, self), self.name)
        if self.metrics is not None:
            metrics = partial(_metrics, self.metrics)
            runtime.requests(metrics_subject(self.name), metrics, self.name)
        await runtime.start()
        self.checks["bus-runtime"] = runtime.ping
        for consumer in runtime.consumers:
            self.watch(consumer)


async def _health(ctx: ServiceContext, _msg: Msg) -> bytes:
    return msgspec.json.encode(await health_report(ctx.name, ctx.checks, ctx.liveness))


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

    # One connection: the FastStream broker's, which the body's consumers and responders
    # run on (see ServiceContext.bus_runtime) and everything else publishes on.
    runtime = BusRuntime(name, settings.nats_url, closed_cb=closed, keep_connection=True)
    nc = await runtime.connect()
    try:
        ctx = ServiceContext(name, settings, nc, runtime)
        await bus.ensure_streams(ctx.js, STREAMS, settings.nats_stream_replicas)
        async with body(ctx):
            if not runtime.started:  # a body with nothing on the bus still answers health
                await ctx.start_runtime(runtime)
            try:
                yield ctx
            finally:
                leaving = True
    finally:
        leaving = True
        with contextlib.suppress(Exception):
            await runtime.close()


async def watchdog(liveness: dict[str, Check], interval: float, strikes: int) -> str:
    """Return the names of the failing liveness checks once they have failed ``strikes``
    times in a row, checked every ``interval`` seconds (runs until cancelled otherwise)."""
    failing = 0
    while True:
        await asyncio.sleep(interval)
        _, results = await run_checks(liveness)
        dead = [check for check, ok in results.items() if not ok]
        failing = failing + 1 if dead else 0
        if failing >= strikes:
            return ", ".join(dead)


async def run_service(name: str, settings: BaseSettings, body: Body) -> None:
    """Run ``body`` (see :func:`serving`) and serve health until SIGINT/SIGTERM.

    SIGTERM drains: the workers finish the batch in hand (and ack it) before the process
    exits, so a rolling update loses nothing and redelivers nothing.

    The service exits with status 1, so that its supervisor (``make run``, Kubernetes)
    starts a fresh process, when it could not recover by itself: the NATS connection closed
    for good (nats-py gives up on some server errors whatever the reconnect policy), or a
    liveness check (a consumer loop making no progress) failed three times in a row.
    """
    log = logging.getLogger(f"kubeward.{name}")
    stop = asyncio.Event()
    why_exit: list[str] = []

    def give_up(reason: str) -> None:
        why_exit.append(reason)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lost = partial(give_up, "lost its NATS connection for good")
    async with serving(name, settings, body, on_connection_lost=lost) as ctx:
        health = HealthServer(
            name, settings.health_host, settings.health_port, ctx.checks, ctx.metrics, ctx.liveness
        )
        await health.start()
        log.info("%s ready; health on %s:%d", name, settings.health_host, health.port)
        heap.settle(settings.gc_young_threshold)
        dog = asyncio.create_task(watchdog(ctx.liveness, settings.watchdog_seconds, 3))

        def stuck(task: asyncio.Task[str]) -> None:
            if not task.cancelled():
                give_up(f"is stuck ({task.result()} made no progress)")

        dog.add_done_callback(stuck)
        await stop.wait()
        dog.cancel()
        if why_exit:
            log.error("%s %s; exiting to be restarted", name, why_exit[0])
        log.info("%s stopping", name)
        await health.stop()
    if why_exit:
        raise SystemExit(1)


async def open_app_settings(ctx: ServiceContext, secret: str, keys: KeyRegistry) -> AppSettings:
    """The admin settings for a service body: the store of ``keys`` (the service's keys, e.g.
    ``kubeward.schemas.settings.KEYS``) opened with ``secret`` (``SETTINGS_SECRET``),
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
        ctx.js, secret, keys=keys, replicas=ctx.settings.nats_stream_replicas
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
