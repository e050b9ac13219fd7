"""What every analyzer shares: the analyzer type, evidence and command helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubeward.failure_analyzer.findings import Evidence, EvidenceSource, Finding
from kubeward.failure_analyzer.report_view import (
    Container,
    LogHit,
    Message,
    MessageHit,
    ReportView,
    Status,
    clip,
)

Analyzer = Callable[[ReportView], Finding | None]

CRASH_REASONS = frozenset({"CrashLoopBackOff", "Error", "RunContainerError", "OOMKilled"})
"""Reasons that mean a container ran and stopped."""


def evidence(source: EvidenceSource, label: str, text: str) -> Evidence:
    """One piece of evidence, ``label: text`` on one line of at most ~200 characters."""
    return Evidence(source=source, detail=clip(f"{label}: {text}"))


def message_evidence(message: Message) -> Evidence:
    """Evidence for a status/event message."""
    source: EvidenceSource = "event"
    if message.source == "message":
        source = "message"
    elif message.source == "container_status":
        source = "container_status"
    return evidence(source, message.label, message.text)


def from_message(hit: MessageHit) -> Evidence:
    """Evidence for a matched status/event message."""
    return message_evidence(hit.message)


def from_log(hit: LogHit) -> Evidence:
    """Evidence for a matched log line."""
    return evidence("logs", hit.source.label, hit.line)


def status_evidence(status: Status) -> Evidence:
    """Evidence summarising a container status."""
    parts = [f"state={status.state or '?'}"]
    if status.reason:
        parts.append(f"reason={status.reason}")
    if status.exit_code is not None:
        parts.append(f"exitCode={status.exit_code}")
    if status.last_reason or status.last_exit_code is not None:
        parts.append(f"last={status.last_reason or '?'} (exitCode={status.last_exit_code})")
    if status.restart_count:
        parts.append(f"restarts={status.restart_count}")
    kind = "init container" if status.is_init else "container"
    return evidence("container_status", f"{kind} {status.name}", ", ".join(parts))


def kubectl(view: ReportView, command: str) -> str:
    """``kubectl -n <namespace> <command>``."""
    return f"kubectl -n {view.namespace} {command}"


def rollout_checks(view: ReportView) -> tuple[str, ...]:
    """Commands showing the replacement pods come up (or this pod, if it has no owner)."""
    workload = view.workload
    if workload and workload.split("/", 1)[0] in ("deployment", "statefulset", "daemonset"):
        checks = [kubectl(view, f"rollout status {workload} --timeout=180s")]
    else:
        checks = [kubectl(view, f"get pod {view.pod} -o wide")]
    selector = view.selector
    if selector:
        checks.append(kubectl(view, f"get pods -l {selector} -o wide"))
    return tuple(checks)


def describe(view: ReportView) -> str:
    """``kubectl describe pod`` for this pod."""
    return kubectl(view, f"describe pod {view.pod}")


def events_cmd(view: ReportView) -> str:
    """The pod's recent events."""
    return kubectl(
        view,
        f"get events --field-selector involvedObject.name={view.pod} --sort-by=.lastTimestamp",
    )


def logs_cmd(view: ReportView, container: str | None, previous: bool = True) -> str:
    """``kubectl logs`` of one container, previous instance by default."""
    parts = [f"logs {view.pod}"]
    if container:
        parts.append(f"-c {container}")
    if previous:
        parts.append("--previous")
    parts.append("--tail=50")
    return kubectl(view, " ".join(parts))


def failing_status(view: ReportView, reasons: Iterable[str] = CRASH_REASONS) -> Status | None:
    """The first app or init container whose current or last reason is in ``reasons``."""
    wanted = frozenset(reasons)
    for status in (*view.init_statuses, *view.statuses):
        if wanted.intersection(status.reasons):
            return status
    return None


def target_container(view: ReportView, name: str | None = None) -> Container | None:
    """Container ``name``, else the only (or first) app container."""
    if name:
        found = view.container(name)
        if found is not None:
            return found
    return view.containers[0] if view.containers else None


def make(
    analyzer: str,
    title: str,
    root_cause: str,
    fix: Iterable[str],
    verify: Iterable[str],
    found: Iterable[Evidence | None],
    confidence: float,
) -> Finding:
    """A :class:`Finding` with duplicate evidence and commands removed."""
    seen: set[str] = set()
    items: list[Evidence] = []
    for item in found:
        if item is not None and item.detail not in seen:
            seen.add(item.detail)
            items.append(item)
    commands = tuple(dict.fromkeys(verify))
    return Finding(
        analyzer=analyzer,
        title=clip(title, 160),
        root_cause=root_cause,
        fix=tuple(fix),
        verify=commands,
        evidence=tuple(items),
        confidence=confidence,
    )


def code(text: str) -> str:
    """Inline Markdown code, safe for text containing backticks."""
    return "`" + text.replace("`", "'") + "`"


def crashed(view: ReportView) -> list[Status]:
    """Containers (init first) that ran and stopped: crash loops, errors, restarts."""
    out: list[Status] = []
    for status in (*view.init_statuses, *view.statuses):
        if (
            CRASH_REASONS.intersection(status.reasons)
            or status.restart_count > 0
            or (status.state == "terminated" and status.exit_code not in (None, 0))
            or status.last_exit_code is not None
        ):
            out.append(status)
    return out


def is_crashing(view: ReportView) -> bool:
    """Whether anything in the report says a container crashed."""
    return (
        bool(crashed(view))
        or view.failure_reason in CRASH_REASONS
        or any(r.startswith("Init:") for r in view.reasons)
    )


def log_finding_context(view: ReportView, hit: LogHit) -> tuple[str, Status | None]:
    """The container a log hit belongs to (its name for prose) and that container's status."""
    name = hit.source.container
    if name is None:
        statuses = crashed(view)
        name = (
            statuses[0].name
            if statuses
            else (view.containers[0].name if view.containers else "app")
        )
    return name, view.status(name)


def crash_checks(view: ReportView, container: str | None) -> tuple[str, ...]:
    """Verify commands after fixing a crash: the rollout, then the new instance's logs."""
    workload = view.workload
    target = view.pod
    if workload and workload.split("/", 1)[0] in ("deployment", "statefulset", "daemonset", "job"):
        target = workload
    option = f" -c {container}" if container else ""
    return (*rollout_checks(view), kubectl(view, f"logs {target}{option} --tail=50"))
