"""Entry point: ``python -m kubeward.security``."""

from __future__ import annotations

from kubeward.core.service import launch
from kubeward.security.app import security
from kubeward.security.settings import Settings


def main() -> None:
    """Run the security service until SIGINT/SIGTERM."""
    launch("security", Settings, security)


if __name__ == "__main__":
    main()
