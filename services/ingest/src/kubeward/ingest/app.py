"""The ingest service body: one durable worker per collector subject it routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from nats.aio.msg import Msg
from prometheus_client import generate_latest

from kubeward.core.bus import BatchWorker, serve_requests
from kubeward.core.service import ServiceContext
from kubeward.ingest import metrics
from kubeward.ingest.http_log import HttpLogRouter
from kubeward.ingest.http_traffic import HttpTrafficRouter
from kubeward.ingest.pod_failures import PodFailureRouter
from kubeward.ingest.pod_traffic import PodTrafficRouter
from kubeward.ingest.routing import STAGE, CollectRouter
from kubeward.ingest.security import ManifestRouter, SecurityFindingRouter
from kubeward.ingest.settings import Settings
from kubeward.schemas import bus


async def _metrics(_msg: Msg) -> bytes:
    return bytes(generate_latest(metrics.REGISTRY))


@asynccontextmanager
async def ingest(ctx: ServiceContext) -> AsyncIterator[None]:
    """Start the routing workers and the metrics responder; drain them on exit."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    routers: list[tuple[str, str, type[CollectRouter[Any, Any]]]] = [
        ("pod-traffic", bus.COLLECT_POD_TRAFFIC, PodTrafficRouter),
        ("http-traffic", bus.COLLECT_HTTP_TRAFFIC, HttpTrafficRouter),
        ("pod-failures", bus.COLLECT_POD_FAILURES, PodFailureRouter),
        ("security-findings", bus.COLLECT_SECURITY_FINDINGS, SecurityFindingRouter),
        ("manifests", bus.COLLECT_MANIFESTS, ManifestRouter),
        ("http-log", bus.COLLECT_HTTP_LOG, HttpLogRouter),
    ]
    workers = [
        BatchWorker(
            ctx.js,
            stream=bus.COLLECT.name,
            durable=f"{bus.CONSUMER_INGEST}-{name}",
            filter_subject=subject,
            handler=router(ctx.nc, ctx.js, settings.max_records_per_message),
            stage=STAGE,
            batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
        )
        for name, subject, router in routers
    ]
    for worker in workers:
        await worker.start()
        ctx.checks[f"consumer:{worker.durable}"] = worker.is_healthy
    sub = await serve_requests(ctx.nc, bus.RPC_INGEST_METRICS, _metrics, queue="ingest")
    try:
        yield
    finally:
        await sub.unsubscribe()
        for worker in workers:
            await worker.stop()
