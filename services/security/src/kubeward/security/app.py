"""The security service body: finding, manifest and failed-pod workers, and responders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from kubeward.core import mongo
from kubeward.core.bus import READ_TIME_LIMIT
from kubeward.core.ingest_first import IngestFirst
from kubeward.core.service import ServiceContext, open_app_settings
from kubeward.core.settlement import BatchSpec
from kubeward.schemas import bus
from kubeward.schemas.security import FindingQuery, SecurityCommand
from kubeward.security import admin_settings, metrics
from kubeward.security.commands import Commands
from kubeward.security.handlers import FailedPodManifests, FindingHandler, ManifestHandler
from kubeward.security.registries import Registries
from kubeward.security.scanning import BuiltinScanner
from kubeward.security.settings import Settings
from kubeward.security.store import FindingStore

STAGE = "security"
QUEUE = "security"


@asynccontextmanager
async def security(ctx: ServiceContext) -> AsyncIterator[None]:
    """Start everything the service does; drain it on exit."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    # Writes are keyed upserts and sets, and a failed batch is redelivered.
    client = mongo.connect(settings.mongodb_url)
    db = mongo.database(client, settings.mongodb_db)
    store = FindingStore(db, settings.finding_seen_resolution_seconds)
    await store.ensure_indexes()
    trusted = Registries(db)
    await trusted.ensure()
    ctx.checks["mongodb"] = lambda: mongo.ping(client)
    ctx.metrics = metrics.REGISTRY
    app_settings = await open_app_settings(ctx, settings.settings_secret, admin_settings.KEYS)
    scanner = BuiltinScanner(ctx.js, store, trusted, app_settings)
    ctx.components |= {"store": store, "registries": trusted}

    runtime = ctx.bus_runtime()
    # Findings pages give way while findings, manifests and failed pods' scans arrive.
    ingest_first = IngestFirst(settings.list_yield_seconds)

    def consume(durable: str, stream: str, subject: str, handler: Any, window: float = 0.0) -> None:
        spec = BatchSpec(
            stream=stream,
            durable=f"{bus.CONSUMER_SECURITY}-{durable}",
            filter_subject=subject,
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
            window=window,
        )
        runtime.batch_consumer(spec, ingest_first.counting(handler))

    consume(
        "findings",
        bus.SECURITY.name,
        bus.SECURITY_FINDINGS,
        FindingHandler(ctx.nc, store, app_settings),
    )
    consume(
        "manifests", bus.SECURITY.name, bus.SECURITY_MANIFESTS, ManifestHandler(ctx.nc, scanner)
    )
    # No caller waits for a failed pod's scan: gathering a window's reports makes one scan
    # and a few bulk writes of them, which leaves the database to the reports themselves.
    consume(
        "pod-failures",
        bus.FAILURES.name,
        bus.FAILURES_REPORT,
        FailedPodManifests(scanner),
        settings.failed_pod_scan_window_seconds,
    )
    commands = Commands(
        ctx.js,
        store,
        trusted,
        scanner,
        app_settings,
        max_page=settings.max_page,
        llm_timeout=settings.llm_timeout_seconds,
        ingest_first=ingest_first,
    )
    runtime.replies(
        bus.RPC_SECURITY_LIST, FindingQuery, commands.list, QUEUE, time_limit=READ_TIME_LIMIT
    )
    # A tagged union of Structs decodes like a type, which mypy cannot express.
    runtime.replies(bus.RPC_SECURITY_COMMAND, cast(Any, SecurityCommand), commands.command, QUEUE)
    await ctx.start_runtime(runtime)
    try:
        yield
    finally:
        await runtime.stop()
        await commands.close()
        await app_settings.close()
        await client.close()
