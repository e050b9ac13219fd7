"""Settings of the failure-analyzer service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Settings of failure-analyzer; shared ones: :class:`~kubeward.core.settings.BaseSettings`."""

    health_port: int = 8083
    settings_secret: str = ""
    """Decrypts the admin settings' secrets (LLM key, webhook URLs); the gateway's value."""
    fetch_batch: int = 200
    """Reports handled per fetch from ``FAILURES``."""
    offline_diagnosis: bool = True
    """Run the offline analyzers on every report (off only to measure the bare pipeline)."""
    llm_timeout_seconds: float = 30.0
    """One LLM diagnosis, retry included; past it the offline answer stands, marked."""
    llm_concurrency: int = 4
    """LLM diagnoses in flight at once per replica."""
    retention_interval_seconds: float = 60.0
    """How often resolved and ignored records past their retention are deleted."""
    retention_batch: int = 500
    """Records deleted per round trip by the retention sweep."""
    max_page: int = 5000
    """The most records one list request returns."""
    list_yield_seconds: float = 2.0
    """While reports arrive, list requests are read one at a time and get at most a third
    of the time; this bounds how long one waits for its turn (0: never waits). Keeps
    dashboards from stalling ingest (:mod:`~kubeward.core.ingest_first`)."""
    traffic_timeout_seconds: float = 1.0
    """How long a report waits for traffic-store's DROP flows (and a new failure for its
    callers); past it, or with 0, the diagnosis goes on without them."""
    traffic_quiet_seconds: float = 1.0
    """For this long after traffic-store answered, a failure whose window begins after the
    newest DROP (the newest flow) it held is taken to have no DROP (no callers), without
    asking again (0: always ask)."""
    public_url: str = ""
    """The dashboard's base URL, for links in notifications (none when empty)."""
