"""Request/reply handlers: list failures and change them (status, dismiss, restore, retry,
dismiss-deleted), each answered with a :class:`~kubeward.schemas.replies.Reply`."""

from __future__ import annotations

import asyncio

import msgspec
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.core.ingest_first import IngestFirst
from kubeward.failure_analyzer import events, metrics, solutions
from kubeward.failure_analyzer.admin_settings import llm_config
from kubeward.failure_analyzer.kure_triage import KureTriage
from kubeward.failure_analyzer.notifier import Notifier
from kubeward.failure_analyzer.store import FailureStore, Solution, StatusChange, to_api
from kubeward.failure_analyzer.traffic_link import TrafficLink
from kubeward.schemas.pod_failures import (
    STATUSES,
    DeleteRecord,
    Dismiss,
    DismissDeleted,
    FailureCommand,
    FailureQuery,
    FailureStatus,
    GetFailure,
    GetPodManifest,
    Restore,
    RetrySolution,
    SetStatus,
    Troubleshoot,
    UpdateStatus,
)
from kubeward.schemas.replies import Reply, error

NOT_FOUND = "Pod failure not found"

_TRANSITIONS: dict[FailureStatus, frozenset[str]] = {
    # target status -> statuses it may be reached from
    "new": frozenset({"investigating", "ignored"}),
    "investigating": frozenset({"new", "ignored"}),
    "resolved": frozenset({"new", "investigating", "ignored"}),
    "ignored": frozenset({"new", "investigating"}),
}


LIST_CHUNK = 100
"""Rows of a page converted between two turns of the event loop."""


def _body(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


class Commands:
    """Answers ``kubeward.rpc.failure-analyzer.list`` and ``.command``."""

    def __init__(
        self,
        js: JetStreamContext,
        store: FailureStore,
        app_settings: AppSettings,
        notifier: Notifier,
        *,
        max_page: int,
        llm_timeout: float,
        offline_diagnosis: bool = True,
        traffic: TrafficLink | None = None,
        ingest_first: IngestFirst | None = None,
    ) -> None:
        self._js = js
        self._traffic = traffic
        self._ingest_first = ingest_first or IngestFirst(0)
        self._store = store
        self._settings = app_settings
        self._notifier = notifier
        self._max_page = max_page
        self._llm_timeout = llm_timeout
        self._offline = offline_diagnosis
        self._kure = KureTriage(
            js, store, app_settings, llm_timeout=llm_timeout, offline_diagnosis=offline_diagnosis
        )

    async def list(self, query: FailureQuery) -> Reply:
        """One page of a view, newest first."""
        if query.cursor is not None and not (query.cursor.isascii() and query.cursor.isdigit()):
            return error(400, f"cursor: {query.cursor!r} is not a cursor this API gave out")
        async with self._ingest_first.listing() as pace:
            docs, next_id = await self._store.query(
                query, self._max_page, slice_rows=pace.slice_rows, between=pace.step
            )
            rows = []
            for start in range(0, len(docs), LIST_CHUNK):
                rows += [to_api(d) for d in docs[start : start + LIST_CHUNK]]
                # A 1000-row page takes tens of ms to convert; reports handled by this
                # process meanwhile must not wait for all of it.
                await asyncio.sleep(0)
        return Reply(
            body=_body(rows),
            count=len(docs),
            cursor=None if next_id is None else str(next_id),
        )

    async def command(self, command: FailureCommand) -> Reply:
        """Dispatch one command."""
        if isinstance(command, SetStatus):
            return await self._set_status(command)
        if isinstance(command, Dismiss):
            return await self._dismiss(command)
        if isinstance(command, Restore):
            return await self._restore(command)
        if isinstance(command, RetrySolution):
            return await self._retry(command)
        if isinstance(command, UpdateStatus):
            return await self._kure.update_status(command)
        if isinstance(command, DeleteRecord):
            return await self._kure.delete_record(command)
        if isinstance(command, GetPodManifest):
            return await self._kure.pod_manifest(command)
        if isinstance(command, Troubleshoot):
            return await self._kure.troubleshoot(command)
        if isinstance(command, GetFailure):
            doc = await self._store.get(command.id)
            if doc is None:
                return error(404, NOT_FOUND)
            return Reply(body=_body(to_api(doc)))
        return await self._dismiss_deleted(command)

    async def _changed(self, change: StatusChange) -> None:
        """Announce a status change (and notify on resolution)."""
        if not change.changed or change.doc is None:
            return
        await events.status_change(self._js, change.doc)
        if change.doc["status"] == "resolved":
            self._notifier.resolved(change.doc)

    async def _set_status(self, command: SetStatus) -> Reply:
        if command.status not in STATUSES:  # the decoder already refuses; belt and braces
            return error(400, f"Invalid status. Must be one of: {', '.join(STATUSES)}")
        change = await self._store.set_status(
            command.id, command.status, _TRANSITIONS[command.status]
        )
        if change.doc is None:
            return error(404, NOT_FOUND)
        if change.doc["status"] != command.status:
            return error(400, f"Cannot transition from '{change.before}' to '{command.status}'")
        await self._changed(change)
        return Reply(body=_body(to_api(change.doc)))

    async def _dismiss(self, command: Dismiss) -> Reply:
        change = await self._store.set_status(command.id, "resolved", _TRANSITIONS["resolved"])
        if change.doc is None:
            return error(404, NOT_FOUND)
        await self._changed(change)
        return Reply(body=_body({"message": "Pod failure dismissed"}))

    async def _restore(self, command: Restore) -> Reply:
        change = await self._store.set_status(command.id, "new", frozenset({"ignored"}))
        if change.doc is None:
            return error(404, NOT_FOUND)
        if change.doc["status"] != "new":
            return error(400, f"Only ignored failures can be restored; this one is {change.before}")
        await self._changed(change)
        return Reply(body=_body({"message": "Pod failure restored"}))

    async def _retry(self, command: RetrySolution) -> Reply:
        doc = await self._store.get(command.id)
        if doc is None:
            return error(404, NOT_FOUND)
        report = await self._store.full_report(doc)
        drops = None
        if self._traffic is not None and self._offline:
            drops = await self._traffic.report_drops(report, doc["last_seen"])
        config = llm_config(self._settings)
        solution: Solution
        if config is not None:
            solution = await solutions.with_llm(
                config, report, timeout=self._llm_timeout, drops=drops
            )
        else:
            solution = solutions.offline(report, self._offline, drops)
        updated = await self._store.set_solution(command.id, solution)
        if updated is None:  # deleted by retention meanwhile
            return error(404, NOT_FOUND)
        metrics.SOLUTIONS.labels(solution.source).inc()
        await events.solution_updated(self._js, updated)
        return Reply(body=_body(to_api(updated)))

    async def _dismiss_deleted(self, command: DismissDeleted) -> Reply:
        doc = await self._store.resolve_pod(command.namespace, command.pod_name)
        if doc is not None:
            await events.status_change(self._js, doc)
            self._notifier.resolved(doc)
        await events.pod_deleted(self._js, command.namespace, command.pod_name)
        return Reply(
            body=_body({"message": "Pod auto-resolved", "resolved": 0 if doc is None else 1}),
            count=0 if doc is None else 1,
        )
