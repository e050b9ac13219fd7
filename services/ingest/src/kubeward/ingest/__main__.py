"""Entry point: ``python -m kubeward.ingest``."""

from __future__ import annotations

from kubeward.core.service import launch
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings


def main() -> None:
    """Run the ingest service until SIGINT/SIGTERM."""
    launch("ingest", Settings, ingest)


if __name__ == "__main__":
    main()
