"""Entry point: ``python -m kubeward.mirror``."""

from __future__ import annotations

from kubeward.core.service import launch
from kubeward.mirror.app import mirror
from kubeward.mirror.settings import Settings


def main() -> None:
    """Run the mirror service until SIGINT/SIGTERM."""
    launch("mirror", Settings, mirror)


if __name__ == "__main__":
    main()
