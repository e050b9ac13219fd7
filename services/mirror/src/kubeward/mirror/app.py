"""The mirror service body: the command responder, the reaper and the pod status watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from kubeward.core import mongo
from kubeward.core.service import ServiceContext, open_app_settings
from kubeward.kube.client import KubeClient, load_client
from kubeward.mirror import admin_settings
from kubeward.mirror.commands import Commands
from kubeward.mirror.settings import Settings
from kubeward.mirror.status_watch import StatusWatch
from kubeward.mirror.store import MirrorStore
from kubeward.schemas import bus
from kubeward.schemas.mirror import MirrorCommand

QUEUE = "mirror"
log = logging.getLogger(__name__)


async def reaper(commands: Commands, interval: float) -> None:
    """On start: orphans and whatever expired meanwhile; then expired mirrors every
    ``interval`` seconds."""
    first = True
    while True:
        try:
            if first:
                orphans = await commands.reap_orphans()
                if orphans:
                    log.info("deleted %d orphan mirror pod(s)", orphans)
                first = False
            reaped = await commands.reap()
            if reaped:
                log.info("deleted %d expired mirror(s)", reaped)
        except Exception:
            log.exception("reaper pass failed")
        await asyncio.sleep(interval)


@asynccontextmanager
async def mirror(ctx: ServiceContext) -> AsyncIterator[None]:
    """Start the responder and the reaper; stop them on exit."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    kube: KubeClient | None
    try:
        kube = await load_client(
            settings.kubeconfig, settings.kube_context, settings.kube_request_timeout_seconds
        )
    except Exception as exc:
        log.error("Kubernetes client not configured; deploy/status/delete answer 503: %s", exc)
        kube = None
    client = mongo.connect(settings.mongodb_url)
    store = MirrorStore(mongo.database(client, settings.mongodb_db))
    await store.ensure_indexes()
    ctx.checks["mongodb"] = lambda: mongo.ping(client)
    app_settings = await open_app_settings(ctx, settings.settings_secret, admin_settings.KEYS)
    owner = f"{socket.gethostname()}-{secrets.token_hex(4)}"
    commands = Commands(
        ctx.nc,
        ctx.js,
        store,
        app_settings,
        kube,
        owner=owner,
        claim_seconds=settings.claim_seconds,
        llm_timeout=settings.llm_timeout_seconds,
        request_timeout=settings.request_timeout_seconds,
        logs_tail_lines=settings.logs_tail_lines,
    )
    ctx.components |= {"store": store, "commands": commands}
    runtime = ctx.bus_runtime()
    # A tagged union of Structs decodes like a type, which mypy cannot express.
    runtime.replies(bus.RPC_MIRROR_COMMAND, cast(Any, MirrorCommand), commands.command, QUEUE)
    await ctx.start_runtime(runtime)
    tasks = [asyncio.create_task(reaper(commands, settings.reaper_interval_seconds), name="reaper")]
    if kube is not None:
        status_watch = StatusWatch(
            kube,
            store,
            ctx.js,
            watch_seconds=settings.status_watch_seconds,
            retry_seconds=settings.watch_retry_seconds,
        )
        tasks.append(asyncio.create_task(status_watch.run(), name="status-watch"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runtime.stop()
        await app_settings.close()
        await client.close()
        if kube is not None:
            await kube.close()
