"""The report handler: exclusions, offline diagnosis, store, feed, notifications, LLM jobs.

Reports of different pods in one fetched batch are diagnosed, then stored together in a few
database round trips (:meth:`~kubeward.failure_analyzer.store.FailureStore.record_many`);
reports of the same pod in order. Every report is stored and diagnosed before its caller
is answered and before the batch is acked. A batch that fails (MongoDB down) goes back
for redelivery, which is harmless: records remember the reports they absorbed, and feed
events and LLM jobs carry message ids. Notifications are the exception: one lost to a
crash is not sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.core.bus import publish_reply
from kubeward.core.feed import publish_event
from kubeward.core.mongo import Document
from kubeward.failure_analyzer import crash_logs, events, metrics, solutions
from kubeward.failure_analyzer.admin_settings import excluded_namespaces, excluded_pods, llm_config
from kubeward.failure_analyzer.crash_logs import CleanLogs
from kubeward.failure_analyzer.notifier import Notifier
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.failure_analyzer.store import FailureStore, Outcome, Recording, to_api
from kubeward.failure_analyzer.traffic_link import TrafficLink
from kubeward.schemas import bus
from kubeward.schemas.network import IMPACT_MINUTES_BEFORE, DropReport
from kubeward.schemas.pod_failures import (
    DiagnoseJob,
    FailureReportBatch,
    FailureReportEnvelope,
    PodFailureReport,
)
from kubeward.schemas.replies import Reply
from kubeward.schemas.settings import is_excluded

log = logging.getLogger(__name__)

IMPACT_CONCURRENCY = 16
"""New failures' caller look-ups (``pod_impact``) in flight at once."""


class ReportHandler:
    """Batch handler for ``kubeward.failures.report``."""

    payload = FailureReportBatch

    def __init__(
        self,
        nc: NATS,
        store: FailureStore,
        app_settings: AppSettings,
        notifier: Notifier,
        *,
        offline_diagnosis: bool = True,
        traffic: TrafficLink | None = None,
    ) -> None:
        self._impacts: set[asyncio.Task[None]] = set()
        self._impact_slots = asyncio.Semaphore(IMPACT_CONCURRENCY)
        self._nc = nc
        self._traffic = traffic
        self._js: JetStreamContext = nc.jetstream()
        self._store = store
        self._settings = app_settings
        self._notifier = notifier
        self._offline = offline_diagnosis
        self._decoder = msgspec.msgpack.Decoder(self.payload)
        self._encoder = msgspec.msgpack.Encoder()

    async def __call__(self, msgs: list[Msg]) -> None:
        """Handle every report of every message; raise to have the batch redelivered."""
        by_pod: dict[tuple[str, str], list[FailureReportEnvelope]] = {}
        for msg in msgs:
            for envelope in self._decoder.decode(msg.data).reports:
                key = (envelope.report.namespace, envelope.report.pod_name)
                by_pod.setdefault(key, []).append(envelope)
        # Round n stores the n-th report of every pod: one pod's reports in order, the
        # reports of different pods together.
        rounds = max((len(envelopes) for envelopes in by_pod.values()), default=0)
        for n in range(rounds):
            await self.handle_many([e[n] for e in by_pod.values() if len(e) > n])

    def _exclusion(self, namespace: str, pod_name: str) -> str | None:
        if is_excluded(namespace, pod_name, excluded_namespaces(self._settings), ()):
            return "excluded_namespace"
        if is_excluded(namespace, pod_name, (), excluded_pods(self._settings)):
            return "excluded_pod"
        return None

    async def handle(self, envelope: FailureReportEnvelope) -> None:
        """One report: drop if excluded, else diagnose, store, announce and answer."""
        await self.handle_many([envelope])

    async def handle_many(self, envelopes: list[FailureReportEnvelope]) -> None:
        """Reports of distinct pods: drop the excluded ones, diagnose the others, store them
        together (:meth:`FailureStore.record_many`), then announce and answer each."""
        kept: list[tuple[FailureReportEnvelope, CleanLogs | None]] = []
        cleaned: list[tuple[FailureReportEnvelope, PodFailureReport, CleanLogs | None]] = []
        items: list[Recording] = []
        answers: list[Awaitable[None]] = []
        for envelope in envelopes:
            report = envelope.report
            excluded = self._exclusion(report.namespace, report.pod_name)
            if excluded is not None:
                metrics.REPORTS.labels("dropped").inc()
                metrics.DROPPED.labels(excluded).inc()
                body = {"excluded": True, "reason": excluded}
                answers.append(self._answer(envelope, Reply(status=200, body=_raw(body), count=0)))
                continue
            # Crash logs are decoded, bounded and redacted once; the analyzers, the store
            # and everything after them see only that.
            logs = crash_logs.clean(report)
            cleaned.append((envelope, crash_logs.with_logs(report, logs), logs))
        # traffic-store's DROP flows around each failure, asked for all at once.
        # One view per report: the DROP search's log addresses and the diagnosis parse its
        # manifest and logs once.
        views = [ReportView(report) for _, report, _ in cleaned]
        drops = await self._drops(
            [(r, _origin(e), v) for (e, r, _), v in zip(cleaned, views, strict=True)]
        )
        for (envelope, report, logs), dropped, view in zip(cleaned, drops, views, strict=True):
            solution = solutions.offline(report, self._offline, dropped, view)
            captured = logs is not None and logs.captured
            kept.append((envelope, logs))
            items.append(Recording(envelope=envelope, solution=solution, logs_captured=captured))
        outcomes = await self._store.record_many(items) if items else []
        await self._store.save_logs_many(
            {
                doc["_id"]: logs
                for (_, logs), (_, doc) in zip(kept, outcomes, strict=True)
                if logs is not None and logs.blocks
            },
            created={doc["_id"] for outcome, doc in outcomes if outcome is Outcome.CREATED},
        )
        for (envelope, _), item, (outcome, doc) in zip(kept, items, outcomes, strict=True):
            metrics.REPORTS.labels(outcome.value).inc()
            if outcome is not Outcome.DUPLICATE:
                report = envelope.report
                metrics.SOLUTIONS.labels(item.solution.source).inc()
                metrics.KURE_POD_FAILURES.labels(report.namespace, report.failure_reason).inc()
                if outcome is Outcome.CREATED and doc["status"] == "new":
                    self._notifier.failure(doc)
            answers.append(self._announce(envelope, doc, outcome is Outcome.CREATED))
        await asyncio.gather(*answers)

    async def _drops(
        self, reports: list[tuple[PodFailureReport, datetime, ReportView]]
    ) -> list[DropReport | None]:
        """The DROP flows around each failure (it happened when the report reached
        ``COLLECT``), with the addresses its logs fail to reach, asked for all at once;
        ``None`` without them."""
        if self._traffic is None or not self._offline:
            return [None] * len(reports)
        return await self._traffic.reports_drops(reports)

    async def _impact(self, envelope: FailureReportEnvelope, doc: Document) -> None:
        """``pod_impact`` on the feed when a new failure's pod had callers in the minutes
        before it (what the caller saw after it is for ``GET .../impact`` to tell)."""
        if self._traffic is None:
            return
        at = _origin(envelope)
        since = at - timedelta(minutes=IMPACT_MINUTES_BEFORE)
        found = await self._traffic.impact(doc["namespace"], doc["pod_name"], since, at)
        if found is None or not found.callers:
            return
        data = {"id": doc["_id"]} | msgspec.to_builtins(found)
        await publish_event(self._js, "pod_impact", data, msg_id=f"pod_impact-{doc['_id']}")

    async def _announce(
        self, envelope: FailureReportEnvelope, doc: Document, created: bool = False
    ) -> None:
        """The feed events, the LLM job if one is wanted, then the caller's answer."""
        tag = f"{envelope.origin_seq}:{envelope.index}"
        # A duplicate is a redelivery after a crash between the write and the ack: its
        # announcements go out again with the same message ids, which the streams drop if
        # the first ones got through. The record is stored, so the caller is answered
        # while they go out: the batch is acked only once they have.
        record = to_api(doc)
        sends: list[Awaitable[object]] = [
            events.pod_failure(self._js, record, tag),
            self._answer(envelope, Reply(status=200, body=_raw(record), count=1)),
        ]
        wants_llm = doc.get("solution_source") != "llm" and doc.get("report_seq") == (
            envelope.origin_seq
        )
        if wants_llm and llm_config(self._settings) is not None:
            job = DiagnoseJob(id=doc["_id"], report_seq=envelope.origin_seq)
            sends.append(
                self._js.publish(
                    bus.FAILURES_DIAGNOSE,
                    self._encoder.encode(job),
                    headers={bus.HDR_MSG_ID: f"diagnose-{doc['_id']}-{tag}"},
                )
            )
        await asyncio.gather(*sends)
        if created:  # after the answer, on the side: the next batch does not wait for it
            task = asyncio.create_task(self._impact_quietly(envelope, doc))
            self._impacts.add(task)
            task.add_done_callback(self._impacts.discard)

    async def _impact_quietly(self, envelope: FailureReportEnvelope, doc: Document) -> None:
        async with self._impact_slots:
            try:
                await self._impact(envelope, doc)
            except Exception:  # the record and its answer are done; this is an extra
                log.exception("pod_impact of record %s", doc["_id"])

    async def drain(self) -> None:
        """Wait for the ``pod_impact`` announcements still in flight (on shutdown)."""
        while self._impacts:
            await asyncio.gather(*self._impacts, return_exceptions=True)

    async def _answer(self, envelope: FailureReportEnvelope, reply: Reply) -> None:
        if envelope.reply_to is not None:
            await publish_reply(self._nc, envelope.reply_to, msgspec.json.encode(reply))


def _origin(envelope: FailureReportEnvelope) -> datetime:
    """When the report reached ``COLLECT`` (naive UTC): the failure's time."""
    return datetime.fromtimestamp(envelope.origin_us / 1e6, UTC).replace(tzinfo=None)


def _raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))
