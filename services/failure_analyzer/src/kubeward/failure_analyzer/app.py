"""The failure-analyzer service body: report and diagnosis workers, responders, retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from kubeward.core import mongo
from kubeward.core.bus import READ_TIME_LIMIT
from kubeward.core.ingest_first import IngestFirst
from kubeward.core.service import ServiceContext, open_app_settings
from kubeward.core.settlement import BatchSpec
from kubeward.failure_analyzer import admin_settings, metrics, retention
from kubeward.failure_analyzer.commands import Commands
from kubeward.failure_analyzer.llm_jobs import DiagnoseHandler
from kubeward.failure_analyzer.notifier import Notifier
from kubeward.failure_analyzer.reports import ReportHandler
from kubeward.failure_analyzer.settings import Settings
from kubeward.failure_analyzer.store import FailureStore
from kubeward.failure_analyzer.traffic_link import TrafficLink
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import FailureCommand, FailureQuery

STAGE = "failure-analyzer"
QUEUE = "failure-analyzer"


@asynccontextmanager
async def failure_analyzer(ctx: ServiceContext) -> AsyncIterator[None]:
    """Start everything the service does; drain it on exit."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    # Writes are idempotent (report tags, upserts) and a failed batch is redelivered.
    client = mongo.connect(settings.mongodb_url)
    store = FailureStore(mongo.database(client, settings.mongodb_db))
    await store.ensure_indexes()
    ctx.checks["mongodb"] = lambda: mongo.ping(client)
    ctx.metrics = metrics.REGISTRY
    app_settings = await open_app_settings(ctx, settings.settings_secret, admin_settings.KEYS)
    ctx.components["store"] = store
    notifier = Notifier(app_settings, settings.public_url)
    traffic = TrafficLink(
        ctx.nc,
        settings.traffic_timeout_seconds,
        quiet_for=settings.traffic_quiet_seconds,
    )
    await traffic.start()
    ingest_first = IngestFirst(settings.list_yield_seconds)
    diagnoser = DiagnoseHandler(
        ctx.js, store, app_settings, timeout=settings.llm_timeout_seconds, traffic=traffic
    )
    reports = ReportHandler(
        ctx.nc,
        store,
        app_settings,
        notifier,
        offline_diagnosis=settings.offline_diagnosis,
        traffic=traffic,
    )
    runtime = ctx.bus_runtime()
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.FAILURES.name,
            durable=f"{bus.CONSUMER_FAILURE_ANALYZER}-reports",
            filter_subject=bus.FAILURES_REPORT,
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        ),
        ingest_first.counting(reports),  # list pages give way while reports are stored
    )
    runtime.batch_consumer(
        BatchSpec(
            stream=bus.FAILURES.name,
            durable=f"{bus.CONSUMER_FAILURE_ANALYZER}-diagnose",
            filter_subject=bus.FAILURES_DIAGNOSE,
            stage=STAGE,
            batch=max(1, settings.llm_concurrency),
            max_deliver=settings.max_deliver,
            ack_wait=max(30.0, settings.llm_timeout_seconds + 10),
        ),
        diagnoser,
    )
    commands = Commands(
        ctx.js,
        store,
        app_settings,
        notifier,
        max_page=settings.max_page,
        llm_timeout=settings.llm_timeout_seconds,
        offline_diagnosis=settings.offline_diagnosis,
        traffic=traffic,
        ingest_first=ingest_first,
    )
    runtime.replies(
        bus.RPC_FAILURES_LIST, FailureQuery, commands.list, QUEUE, time_limit=READ_TIME_LIMIT
    )
    # A tagged union of Structs decodes like a type, which mypy cannot express.
    runtime.replies(bus.RPC_FAILURES_COMMAND, cast(Any, FailureCommand), commands.command, QUEUE)
    await ctx.start_runtime(runtime)
    sweeper = asyncio.create_task(
        retention.run(
            store, app_settings, settings.retention_interval_seconds, settings.retention_batch
        ),
        name="failure-retention",
    )
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await runtime.stop()
        await reports.drain()
        await diagnoser.close()
        await traffic.stop()
        await notifier.close()
        await app_settings.close()
        await client.close()
