"""A missing ServiceAccount (the pod cannot be created or admitted)."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    from_message,
    kubectl,
    make,
    rollout_checks,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import ReportView

_MISSING = re.compile(
    r"error looking up service account (?:(?P<ns>[\w\-]+)/)?(?P<name>[\w.\-]+)|"
    r"serviceaccounts? \"(?P<name2>[\w.\-]+)\" not found"
)


def analyze_missing_service_account(view: ReportView) -> Finding | None:
    """``serviceaccount "X" not found`` / ``error looking up service account``."""
    hit = view.find_message(_MISSING)
    if hit is None:
        return None
    name = hit.match.group("name") or hit.match.group("name2") or view.service_account
    namespace = hit.match.group("ns") or view.namespace
    return make(
        "service-account.not-found",
        f"ServiceAccount {name} not found in {namespace}",
        f"The pod runs as ServiceAccount {code(name)}, which does not exist in namespace "
        f"{code(namespace)}; the API server refuses to create (or the kubelet to start) "
        "pods that reference it.",
        (
            f"Create it:\n```bash\nkubectl -n {namespace} create serviceaccount {name}\n```",
            "Recreate any RoleBindings/ClusterRoleBindings the app needs for it, or fix "
            f"`serviceAccountName` in {code(view.owner_label)}.",
        ),
        (
            f"kubectl -n {namespace} get serviceaccount {name}",
            *rollout_checks(view),
            events_cmd(view),
            kubectl(view, "get events --field-selector reason=FailedCreate"),
        ),
        (from_message(hit),),
        0.95,
    )
