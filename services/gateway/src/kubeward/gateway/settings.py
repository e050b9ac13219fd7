"""Settings of the gateway, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Gateway settings; see :class:`~kubeward.core.settings.BaseSettings`."""

    http_host: str = "0.0.0.0"
    http_port: int = 8000
    service_token: str = ""
    """Shared secret for agents and scanners; empty refuses every authenticated call."""
    request_timeout_seconds: float = 10.0
    """How long a write waits for the pipeline to confirm it, and a query for its answer."""
    default_page: int = 5000
