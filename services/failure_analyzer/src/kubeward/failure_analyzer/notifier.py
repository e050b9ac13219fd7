"""Notifications about failures and resolutions, sent in the background.

Every enabled provider (Slack, Teams, Discord, webhook) gets each notification concurrently
through :func:`kubeward.integrations.notify.send_all`, with its retries and backoff. Sending never
holds up the report handling that triggered it, and a slow or broken provider never holds
up the others. A notification still in flight when the service stops is given a short
grace period, then dropped (and logged). Its text leaves the cluster, so it is redacted
like an LLM prompt (:mod:`~kubeward.failure_analyzer.redaction`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from kubeward.core.app_settings import AppSettings
from kubeward.failure_analyzer import metrics
from kubeward.failure_analyzer.admin_settings import enabled_notifications
from kubeward.failure_analyzer.redaction import Redactor
from kubeward.failure_analyzer.store import report_of
from kubeward.integrations import notify
from kubeward.integrations.notify import Notification
from kubeward.schemas.settings import WebhookConfig

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 1000
"""Notifications waiting or being sent; past it new ones are dropped (and counted)."""


def _first_line(markdown: str) -> str:
    """The first sentence-like line under ``## Root Cause`` (for the notification text)."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        if line.strip().lower() == "## root cause":
            for text in lines[index + 1 :]:
                if text.strip() and not text.startswith("#"):
                    return text.strip()[:300]
    return ""


class Notifier:
    """Schedules notification deliveries for failure records."""

    def __init__(self, app_settings: AppSettings, public_url: str = "") -> None:
        self._settings = app_settings
        self._public_url = public_url.rstrip("/") or None
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Notifications scheduled and not yet finished."""
        return len(self._tasks)

    def failure(self, doc: Mapping[str, Any]) -> None:
        """A new failure: tell every enabled provider."""
        if not enabled_notifications(self._settings):
            return  # skip the redaction, which parses the manifest
        reason = doc.get("failure_reason") or "Unknown"
        redactor = Redactor.from_report(report_of(doc))
        text = redactor.text(doc.get("failure_message") or "")
        cause = redactor.text(_first_line(doc.get("solution") or ""))
        self._schedule(
            Notification(
                title=f"Pod failure: {doc['namespace']}/{doc['pod_name']} ({reason})",
                text="\n".join(t for t in (text, cause) if t) or reason,
                severity="error",
                fields=self._fields(doc) | {"Reason": reason},
                url=self._public_url,
            )
        )

    def resolved(self, doc: Mapping[str, Any]) -> None:
        """A failure was resolved (by a user, or because the pod is gone)."""
        self._schedule(
            Notification(
                title=f"Resolved: {doc['namespace']}/{doc['pod_name']}",
                text=f"The {doc.get('failure_reason') or 'pod'} failure is resolved.",
                severity="info",
                fields=self._fields(doc),
                url=self._public_url,
            )
        )

    @staticmethod
    def _fields(doc: Mapping[str, Any]) -> dict[str, str]:
        fields = {"Namespace": str(doc["namespace"]), "Pod": str(doc["pod_name"])}
        if doc.get("node_name"):
            fields["Node"] = str(doc["node_name"])
        fields["Failure id"] = str(doc["_id"])
        return fields

    def _schedule(self, notification: Notification) -> None:
        providers = enabled_notifications(self._settings)
        if not providers:
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            log.error(
                "dropping notification %r: %d already in flight", notification.title, MAX_IN_FLIGHT
            )
            for name in providers:
                metrics.NOTIFICATIONS.labels(name, "dropped").inc()
            return
        named: dict[str, WebhookConfig] = {str(k): v for k, v in providers.items()}
        task = asyncio.create_task(self._send(named, notification))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, providers: Mapping[str, WebhookConfig], notification: Notification
    ) -> None:
        try:
            results = await notify.send_all(providers, notification, client=self._client)
        except Exception:  # never let a notification failure surface anywhere else
            log.exception("notification %r failed", notification.title)
            return
        for name, result in results.items():
            metrics.NOTIFICATIONS.labels(name, "sent" if result.ok else "failed").inc()

    async def close(self, grace: float = 5.0) -> None:
        """Give in-flight notifications ``grace`` seconds, cancel the rest, close the client."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d notification(s) dropped at shutdown", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()
