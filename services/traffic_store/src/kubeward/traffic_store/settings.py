"""Settings of the traffic-store service, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Traffic-store settings; see :class:`~kubeward.core.settings.BaseSettings`."""

    health_port: int = 8082
    fetch_batch: int = 20
    """Internal messages per fetch of the HTTP-traffic and inventory workers."""
    pod_traffic_window_seconds: float = 0.15
    """How long the pod-traffic writer keeps fetching after a batch's first message before
    it writes the batch (one write per flow for all of it) and acks it; 0 writes each
    fetch as it comes."""
    pod_traffic_window_messages: int = 100
    """Internal messages one pod-traffic write takes at most (ends the window early);
    capped below the flows' sequence memory."""
    ephemeral_port_min: int = 32768
    """UDP ports at or above this on the client side of a flow are treated as ephemeral."""
    max_page: int = 5000
    """Largest page ``GET /http-traffic/{id}`` returns; also the default."""
    pod_traffic_max_page: int = 20000
    """Largest page ``GET /pod/traffic`` returns; a larger ``limit`` is clamped to it, as
    kguardian's broker clamps to 20000."""
