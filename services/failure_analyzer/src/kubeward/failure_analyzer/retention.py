"""Retention: resolved and ignored records are deleted once older than the admin setting.

``history_retention_minutes`` applies to resolved records, ``ignored_retention_minutes`` to
ignored ones, each counted from the record's last status change; 0 keeps them. Several
replicas may sweep at once: deleting an already deleted record is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from kubeward.core.app_settings import AppSettings
from kubeward.failure_analyzer import metrics
from kubeward.failure_analyzer.admin_settings import (
    history_retention_minutes,
    ignored_retention_minutes,
)
from kubeward.failure_analyzer.store import FailureStore
from kubeward.schemas.pod_failures import FailureStatus

log = logging.getLogger(__name__)


async def sweep_once(store: FailureStore, app_settings: AppSettings, batch: int) -> int:
    """Delete what is past retention now; returns how many records went."""
    total = 0
    windows: tuple[tuple[FailureStatus, int], ...] = (
        ("resolved", history_retention_minutes(app_settings)),
        ("ignored", ignored_retention_minutes(app_settings)),
    )
    for status, minutes in windows:
        if minutes <= 0:
            continue
        deleted = await store.sweep(status, timedelta(minutes=minutes), batch)
        if deleted:
            metrics.RETENTION_DELETED.labels(status).inc(deleted)
            log.info("retention deleted %d %s failure record(s)", deleted, status)
        total += deleted
    return total


async def run(store: FailureStore, app_settings: AppSettings, interval: float, batch: int) -> None:
    """Sweep every ``interval`` seconds until cancelled; a failed sweep is logged, not fatal."""
    while True:
        try:
            await sweep_once(store, app_settings, batch)
        except Exception:
            log.exception("retention sweep failed; will retry")
        await asyncio.sleep(interval)
