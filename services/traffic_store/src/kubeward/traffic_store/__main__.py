"""Entry point: ``python -m kubeward.traffic_store``."""

from __future__ import annotations

from kubeward.core.service import launch
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings


def main() -> None:
    """Run the traffic-store service until SIGINT/SIGTERM."""
    launch("traffic-store", Settings, traffic_store)


if __name__ == "__main__":
    main()
