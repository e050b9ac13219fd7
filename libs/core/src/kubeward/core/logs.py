"""Logging set-up shared by the services: one line per record, service name included."""

from __future__ import annotations

import logging
import sys


def configure_logging(service: str, level: str = "INFO") -> logging.Logger:
    """Configure the root logger for ``service`` and return the service's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return logging.getLogger(f"kubeward.{service}")


def quiet_httpx() -> None:
    """Keep httpx's per-request INFO lines out of the logs unless the app set a level.

    They carry full URLs, and webhook URLs hold their secret in the path.
    """
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:
        httpx_log.setLevel(logging.WARNING)
