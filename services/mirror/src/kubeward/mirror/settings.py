"""Settings of the mirror service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Settings of mirror; shared ones: :class:`~kubeward.core.settings.BaseSettings`."""

    health_port: int = 8085
    kubeconfig: str = ""
    """Path of a kubeconfig (``KUBECONFIG``); empty: in-cluster when running in a pod, else
    no cluster (deploy/status/delete answer 503)."""
    kube_context: str = ""
    """Context of the kubeconfig; empty: its ``current-context``."""
    kube_request_timeout_seconds: float = 10.0
    settings_secret: str = ""
    """Decrypts the admin settings (the LLM key); ``SETTINGS_SECRET``, as every service."""
    reaper_interval_seconds: float = 15.0
    """How often expired mirrors are looked for."""
    status_watch_seconds: int = 300
    """How long one watch of the mirror pods runs before the pods are listed again."""
    watch_retry_seconds: float = 5.0
    """Pause before listing again after the watch failed (API unreachable, refused)."""
    claim_seconds: float = 60.0
    """How long a replica's claim on one expiry holds before another replica may retry it."""
    llm_timeout_seconds: float = 60.0
    logs_tail_lines: int = 50
    request_timeout_seconds: float = 5.0
    """Timeout of requests to failure-analyzer."""
