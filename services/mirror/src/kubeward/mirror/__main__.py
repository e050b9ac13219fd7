"""Entry point: ``python -m kubeward.mirror``.

So far the service joins the bus (ensuring the streams) and reports health; its domain
work arrives with its own issue.
"""

from __future__ import annotations

from kubeward.core.service import launch, nothing
from kubeward.mirror.settings import Settings


def main() -> None:
    """Run the mirror service until SIGINT/SIGTERM."""
    launch("mirror", Settings, nothing)


if __name__ == "__main__":
    main()
