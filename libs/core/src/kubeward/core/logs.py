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
