"""The ingest service body: one durable batch consumer per collector subject it routes, on
the FastStream runtime (:mod:`kubeward.core.batch_consumers`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kubeward.core.service import ServiceContext
from kubeward.core.settlement import BatchSpec
from kubeward.ingest import metrics
from kubeward.ingest.http_log import HttpLogRouter
from kubeward.ingest.http_traffic import HttpTrafficRouter
from kubeward.ingest.inventory import (
    PodDeadRouter,
    PodSpecRouter,
    PodSyscallsRouter,
    SvcSpecRouter,
)
from kubeward.ingest.pod_failures import PodFailureRouter
from kubeward.ingest.pod_traffic import PodTrafficRouter
from kubeward.ingest.routing import STAGE, CollectRouter
from kubeward.ingest.security import ManifestRouter, SecurityFindingRouter
from kubeward.ingest.settings import Settings
from kubeward.schemas import bus


@asynccontextmanager
async def ingest(ctx: ServiceContext) -> AsyncIterator[None]:
    """Start the routing consumers (their counters answered on ``RPC_INGEST_METRICS``);
    drain them on exit."""
    settings = ctx.settings
    assert isinstance(settings, Settings)
    routers: list[tuple[str, str, type[CollectRouter[Any, Any]]]] = [
        ("pod-traffic", bus.COLLECT_POD_TRAFFIC, PodTrafficRouter),
        ("http-traffic", bus.COLLECT_HTTP_TRAFFIC, HttpTrafficRouter),
        ("pod-failures", bus.COLLECT_POD_FAILURES, PodFailureRouter),
        ("security-findings", bus.COLLECT_SECURITY_FINDINGS, SecurityFindingRouter),
        ("manifests", bus.COLLECT_MANIFESTS, ManifestRouter),
        ("pod-spec", bus.COLLECT_POD_SPEC, PodSpecRouter),
        ("svc-spec", bus.COLLECT_SVC_SPEC, SvcSpecRouter),
        ("pod-dead", bus.COLLECT_POD_DEAD, PodDeadRouter),
        ("pod-syscalls", bus.COLLECT_POD_SYSCALLS, PodSyscallsRouter),
        ("http-log", bus.COLLECT_HTTP_LOG, HttpLogRouter),
    ]
    runtime = ctx.bus_runtime()
    for name, subject, router in routers:
        runtime.batch_consumer(
            BatchSpec(
                stream=bus.COLLECT.name,
                durable=f"{bus.CONSUMER_INGEST}-{name}",
                filter_subject=subject,
                stage=STAGE,
                batch=settings.fetch_batch,
                max_deliver=settings.max_deliver,
            ),
            router(ctx.nc, ctx.js, settings.max_records_per_message),
        )
    ctx.metrics = metrics.REGISTRY  # before the start: the runtime answers for it
    await ctx.start_runtime(runtime)
    try:
        yield
    finally:
        await runtime.stop()
