"""Entry point: ``python -m kubeward.gateway``."""

from __future__ import annotations

from functools import partial

import uvicorn

from kubeward.core import heap
from kubeward.core.logs import configure_logging
from kubeward.core.settings import load_settings
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings
from kubeward.gateway.ws_protocol import FeedSocketProtocol


def main() -> None:
    """Serve the gateway with uvicorn until SIGINT/SIGTERM."""
    settings = load_settings(Settings)
    configure_logging("gateway", settings.log_level)
    app = create_app(settings)
    # Once every lifespan has started, what start-up built leaves the collector. Here, not
    # in create_app: the tests serve apps inside the test process, which must not freeze.
    app.on_startup.append(partial(heap.settle, settings.gc_young_threshold))
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, which let
        # any local client choose its address per login attempt.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        # Open SSE log streams and WebSockets would otherwise hold shutdown until their
        # clients leave; past this many seconds they are cut.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Feed frames are compressed once for every socket (see ws_deflate).
        ws=FeedSocketProtocol,
    )


if __name__ == "__main__":
    main()
