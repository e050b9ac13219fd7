"""Settings of the mirror service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Settings of mirror; shared ones: :class:`~kubeward.core.settings.BaseSettings`."""

    health_port: int = 8085
