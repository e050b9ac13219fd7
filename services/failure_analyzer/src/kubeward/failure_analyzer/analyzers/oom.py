"""OOMKilled: the kernel killed a container that went over its memory limit."""

from __future__ import annotations

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    evidence,
    kubectl,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import (
    ReportView,
    Status,
    format_bytes,
    parse_quantity,
)


def _oom_status(view: ReportView) -> Status | None:
    for status in (*view.init_statuses, *view.statuses):
        if "OOMKilled" in status.reasons:
            return status
    return None


def analyze_oom_killed(view: ReportView) -> Finding | None:
    """A container was OOMKilled; compare with its memory limit and suggest a new one."""
    status = _oom_status(view)
    if status is None and view.failure_reason != "OOMKilled":
        return None
    name = status.name if status else (view.containers[0].name if view.containers else "app")
    container = view.container(name)
    limit_raw = container.limits.get("memory") if container else None
    request_raw = container.requests.get("memory") if container else None
    limit = parse_quantity(limit_raw)
    request = parse_quantity(request_raw)
    found: list[Evidence | None] = [
        status_evidence(status) if status else evidence("reason", "failure reason", "OOMKilled")
    ]
    if limit:
        new = format_bytes(limit * 2)
        found.append(
            evidence("manifest", f"containers[{name}].resources.limits.memory", str(limit_raw))
        )
        cause = (
            f"Container {code(name)} was killed by the kernel's OOM killer (exit code 137) "
            f"because it used more than its memory limit of {code(str(limit_raw))}"
            + (f" ({format_bytes(limit)})." if format_bytes(limit) != str(limit_raw) else ".")
        )
        if request:
            cause += f" Its memory request is {code(str(request_raw))}."
        fix = [
            f"Raise the limit, e.g. double it to {code(new)} (set the request close to real "
            f"use):\n```bash\nkubectl -n {view.namespace} set resources {view.owner_label} "
            f"-c {name} --limits=memory={new}"
            + (f" --requests=memory={format_bytes(max(request, limit))}" if request else "")
            + "\n```",
            "Or reduce the app's memory use: for the JVM use `-XX:MaxRAMPercentage=75.0`, "
            "for Node.js `--max-old-space-size` below the limit; look for leaks if usage "
            "grows until the kill.",
        ]
    else:
        cause = (
            f"Container {code(name)} was killed by the kernel's OOM killer (exit code 137). "
            "It has no memory limit, so the node itself ran out of memory (or the pod's "
            "cgroup did) and the kernel chose this process."
        )
        fix = [
            "Set a memory request and limit that match the app's real use so the scheduler "
            f"places it on a node with room:\n```bash\nkubectl -n {view.namespace} set "
            f"resources {view.owner_label} -c {name} --requests=memory=512Mi "
            "--limits=memory=1Gi\n```",
            f"Check memory pressure on node {code(view.node_name or '<node>')}: "
            f"`kubectl describe node {view.node_name or '<node>'}`.",
        ]
    return make(
        "oom.killed",
        f"Container {name} OOMKilled"
        + (f" (limit {limit_raw})" if limit else " (no memory limit)"),
        cause,
        fix,
        (
            kubectl(view, f"top pod {view.pod} --containers"),
            kubectl(
                view,
                f'get pod {view.pod} -o jsonpath=\'{{.status.containerStatuses[?(@.name=="{name}")]'
                ".lastState.terminated.reason}'",
            ),
            *crash_checks(view, name),
        ),
        found,
        0.96,
    )
