"""Settings of the ingest service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Ingest settings; see :class:`~kubeward.core.settings.BaseSettings` for the shared ones."""

    health_port: int = 8081
    fetch_batch: int = 1000
    max_records_per_message: int = 10_000
    """A collect message with more records than this is dead-lettered whole."""
