"""Settings of the security service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Settings of security; shared ones: :class:`~kubeward.core.settings.BaseSettings`."""

    health_port: int = 8084
    settings_secret: str = ""
    """Decrypts the admin settings' secrets (the LLM key); the gateway's value."""
    fetch_batch: int = 200
    """Findings or manifests handled per fetch from ``SECURITY``."""
    llm_timeout_seconds: float = 30.0
    """One AI fix; past it the check's own remediation is answered, marked as fallback."""
    max_page: int = 5000
    """The most findings one list request returns."""
    failed_pod_scan_window_seconds: float = 0.25
    """Failed pods' manifests are scanned in batches gathered over this long after the first
    arrives (their findings appear that much later; ``0``: each fetch at once)."""
    finding_seen_resolution_seconds: float = 60.0
    """A finding raised again unchanged has its ``last_seen`` rewritten only when it is older
    than this (a failed pod's findings are raised again on each of its reports)."""
    list_yield_seconds: float = 2.0
    """While findings, manifests or failed pods arrive, findings pages are read one at a
    time, in slices, with at most a third of the time; the longest a page waits in all
    (``0``: never waits). See :mod:`kubeward.core.ingest_first`."""
