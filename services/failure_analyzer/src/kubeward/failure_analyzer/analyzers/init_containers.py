"""Init containers that fail (Init:Error, Init:CrashLoopBackOff) or never finish."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    evidence,
    from_log,
    kubectl,
    logs_cmd,
    make,
    rollout_checks,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import ReportView, Status, human_age

_BACKOFF = re.compile(r"Back-off restarting failed container (?P<name>[\w.\-]+)")
_ERROR_LINE = re.compile(
    r"(?i)[^\n]*(?:error|fail|fatal|refused|timed? ?out|not found|can't|cannot|denied|"
    r"no such|unable|bad address|NXDOMAIN)[^\n]*"
)
_WAITING_LINE = re.compile(r"(?i)[^\n]*(?:waiting for|wait for|until|retrying|not ready)[^\n]*")


def _failed_init(view: ReportView) -> Status | None:
    for status in view.init_statuses:
        if status.state == "terminated" and status.exit_code == 0:
            continue
        code_ = status.terminated_code
        if (code_ is not None and code_ != 0) or {"CrashLoopBackOff", "Error"} & set(
            status.reasons
        ):
            return status
    return None


def _init_name_from_events(view: ReportView) -> str | None:
    names = {c.name for c in view.init_containers}
    hit = view.find_message(_BACKOFF, events=("BackOff",), only_events=True)
    if hit is not None and hit.match.group("name") in names:
        return hit.match.group("name")
    return None


def analyze_init_failed(view: ReportView) -> Finding | None:
    """An init container exits non-zero, so the app containers never start."""
    status = _failed_init(view)
    name = status.name if status else None
    init_reason = view.failure_reason.startswith("Init:") or any(
        r.startswith("Init:") for r in view.reasons
    )
    if name is None and init_reason:
        name = _init_name_from_events(view) or (
            view.init_containers[0].name if view.init_containers else None
        )
    if name is None:
        name = _init_name_from_events(view)
    if name is None:
        return None
    container = view.container(name)
    found: list[Evidence | None] = []
    if status is not None:
        found.append(status_evidence(status))
    if init_reason:
        found.append(evidence("reason", "failure reason", view.failure_reason))
    log_hit = view.find_log(_ERROR_LINE, container=name)
    if log_hit is not None and log_hit.source.container == name:
        found.insert(0, from_log(log_hit))
    else:
        log_hit = None
    command = " ".join((container.command + container.args) if container else [])
    exit_code = status.terminated_code if status else None
    cause = (
        f"Init container {code(name)} "
        + (f"exits with code {code(str(exit_code))}" if exit_code is not None else "fails")
        + (f" after {status.restart_count} restarts" if status and status.restart_count else "")
        + ", so the pod's app containers never start (they wait in `PodInitializing`)."
    )
    if command:
        cause += f" It runs {code(command[:160])}."
        found.append(evidence("manifest", f"initContainers[{name}].command", command))
    if log_hit is not None:
        cause += f" Its log ends with {code(log_hit.line[:160])}."
    return make(
        "init.failed",
        f"Init container {name} failing"
        + (f" (exit code {exit_code})" if exit_code is not None else ""),
        cause,
        (
            f"Read its log: `{logs_cmd(view, name)}` (drop `--previous` if it never restarted).",
            "Fix what it waits for or does (a migration, a dependency it checks, a file it "
            f"copies); init containers must exit 0. Edit it in {code(view.owner_label)}.",
            "If it only waits for a dependency, make sure that Service exists and has ready "
            "endpoints in the namespace it resolves.",
        ),
        (
            *rollout_checks(view),
            kubectl(view, f"get pod {view.pod} -o jsonpath='{{.status.initContainerStatuses}}'"),
            logs_cmd(view, name, previous=False),
        ),
        found,
        0.84 if exit_code is not None or log_hit is not None else 0.75,
    )


def analyze_init_stuck(view: ReportView) -> Finding | None:
    """An init container is still running long after the pod was created."""
    if _failed_init(view) is not None:
        return None
    running = next((s for s in view.init_statuses if s.state in ("running", "waiting")), None)
    age = view.age_seconds
    if running is None or age is None or age < 300:
        return None
    if running.state == "waiting" and running.reason not in (None, "PodInitializing"):
        return None
    log_hit = view.find_log(_WAITING_LINE, container=running.name)
    found: list[Evidence | None] = [status_evidence(running)]
    if log_hit is not None:
        found.insert(0, from_log(log_hit))
    return make(
        "init.stuck",
        f"Init container {running.name} has not finished after {human_age(age)}",
        f"Init container {code(running.name)} is still {running.state} "
        f"{human_age(age)} after the pod was created, so the app containers have not "
        "started." + (f" Its log says {code(log_hit.line[:160])}." if log_hit else ""),
        (
            f"See what it waits for: `{logs_cmd(view, running.name, previous=False)}`.",
            "Make the dependency it waits for available (Service, DNS name, database), or "
            "add a timeout to the wait loop so it fails visibly.",
        ),
        (*rollout_checks(view), logs_cmd(view, running.name, previous=False)),
        found,
        0.7,
    )
