"""Entry point: ``python -m kubeward.failure_analyzer``.

So far the service joins the bus (ensuring the streams) and reports health; its domain
work arrives with its own issue.
"""

from __future__ import annotations

from kubeward.core.service import launch, nothing
from kubeward.failure_analyzer.settings import Settings


def main() -> None:
    """Run the failure-analyzer service until SIGINT/SIGTERM."""
    launch("failure-analyzer", Settings, nothing)


if __name__ == "__main__":
    main()
