"""Entry point: ``python -m kubeward.failure_analyzer``."""

from __future__ import annotations

from kubeward.core.service import launch
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.settings import Settings


def main() -> None:
    """Run the failure-analyzer service until SIGINT/SIGTERM."""
    launch("failure-analyzer", Settings, failure_analyzer)


if __name__ == "__main__":
    main()
