"""Network intelligence requests: policy suggestion, would-deny audit, seccomp profiles.

The gateway parses and renders YAML; over the bus policies travel as JSON objects.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PolicyFormat = Literal["kubernetes", "cilium"]
CidrMode = Literal["exact", "cover"]
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"})
"""``kind`` values ``GET /api/network/policy`` accepts."""


class PolicySuggestQuery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/network/policy``: least-privilege policies from observed ALLOW flows."""

    namespace: str
    kind: str | None = None
    """With ``name``: one workload; without: every workload of the namespace with flows."""
    name: str | None = None
    format: PolicyFormat = "kubernetes"
    cidr: CidrMode = "exact"
    """``exact``: one ``/32`` (``/128``) rule per outside address; ``cover``: per direction,
    the smallest CIDR covering all of them (per IP version), in one rule."""
    since: str | None = None
    """Inclusive lower bound on a flow's last sighting (normalised naive UTC)."""
    until: str | None = None
    """Exclusive upper bound on a flow's first sighting."""


class PolicyAuditRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /api/network/audit``: the observed flows the given policies would block."""

    policies: list[dict[str, Any]]
    """NetworkPolicy / CiliumNetworkPolicy objects, as parsed from the caller's YAML."""
    since: str | None = None
    until: str | None = None


class SeccompQuery(msgspec.Struct, kw_only=True):
    """``GET /api/seccomp/{namespace}/{pod}``."""

    namespace: str
    pod: str
