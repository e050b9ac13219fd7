"""The LLM diagnosis worker: consumes ``kubeward.failures.diagnose`` jobs.

A job names a record and the report it was queued for. When a newer report has arrived
since, the job is stale and skipped (the newer report queued its own). The LLM's answer,
or the offline answer marked ``offline-fallback`` when the LLM failed, replaces the
record's solution and is announced as ``solution_updated``.
"""

from __future__ import annotations

import asyncio

import httpx
import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.failure_analyzer import events, metrics, solutions
from kubeward.failure_analyzer.admin_settings import llm_config
from kubeward.failure_analyzer.store import FailureStore
from kubeward.failure_analyzer.traffic_link import TrafficLink
from kubeward.schemas.pod_failures import DiagnoseJob


class DiagnoseHandler:
    """Batch handler: each job of a batch is diagnosed concurrently."""

    payload = DiagnoseJob

    def __init__(
        self,
        js: JetStreamContext,
        store: FailureStore,
        app_settings: AppSettings,
        *,
        timeout: float,
        traffic: TrafficLink | None = None,
    ) -> None:
        self._js = js
        self._traffic = traffic
        self._store = store
        self._settings = app_settings
        self._timeout = timeout
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    async def __call__(self, msgs: list[Msg]) -> None:
        """Diagnose every job of the batch."""
        await asyncio.gather(*(self.run(self._decoder.decode(m.data)) for m in msgs))

    async def run(self, job: DiagnoseJob) -> None:
        """One job: skip when no LLM is configured or the job is stale."""
        config = llm_config(self._settings)
        if config is None:
            return
        doc = await self._store.get(job.id)
        if doc is None or doc.get("report_seq") != job.report_seq:
            return
        report = await self._store.full_report(doc)
        drops = None
        if self._traffic is not None:
            drops = await self._traffic.report_drops(report, doc["last_seen"])
        solution = await solutions.with_llm(
            config, report, timeout=self._timeout, client=self._client, drops=drops
        )
        updated = await self._store.set_solution(job.id, solution, report_seq=job.report_seq)
        if updated is not None:
            metrics.SOLUTIONS.labels(solution.source).inc()
            await events.solution_updated(self._js, updated)
