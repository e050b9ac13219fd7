"""Crash loops explained by the exit code alone (weaker than a recognised log line)."""

from __future__ import annotations

import signal

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    crashed,
    logs_cmd,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import ReportView, Status

# exit code -> (analyzer id, title part, explanation, confidence)
_CODES: dict[int, tuple[str, str, str, float]] = {
    0: (
        "crash.completed",
        "exits successfully and is restarted",
        "The process finished with exit code 0, but the pod's `restartPolicy: Always` "
        "(every Deployment/StatefulSet/DaemonSet) expects a long-running process, so the "
        "kubelet restarts it and backs off. Either the command runs once and ends (a job, "
        "a shell that returns), or the server forks into the background.",
        0.55,
    ),
    1: (
        "crash.app-error",
        "exits with code 1",
        "Exit code 1 is a generic application error: the app hit a fatal error at startup "
        "(bad configuration, unreachable dependency, unhandled exception) and quit.",
        0.4,
    ),
    2: (
        "crash.misuse",
        "exits with code 2",
        "Exit code 2 usually means a usage error: an unknown flag or wrong arguments to the "
        "command, or a shell syntax error in the container's `command`/`args`.",
        0.5,
    ),
    126: (
        "crash.not-executable",
        "command is not executable (exit 126)",
        "Exit code 126: the command was found but cannot be executed: missing execute "
        "permission (`chmod +x`), a directory, or a script whose interpreter is missing.",
        0.7,
    ),
    127: (
        "crash.command-not-found",
        "command not found (exit 127)",
        "Exit code 127: the shell could not find the command: the binary is not in the "
        "image or not on `$PATH`, or an entrypoint script calls a tool the image lacks.",
        0.7,
    ),
    255: (
        "crash.exit-255",
        "exits with code 255",
        "Exit code 255 (exit(-1)) is an unspecific fatal error, often an SSH/tooling "
        "failure or a runtime that aborts without a specific code.",
        0.4,
    ),
}
_SIGNALS: dict[int, tuple[str, str, float]] = {
    signal.SIGABRT: (
        "crash.sigabrt",
        "The process aborted itself (SIGABRT): a failed assertion, `abort()` in "
        "native code, or a C/C++ runtime error such as a double free.",
        0.6,
    ),
    signal.SIGKILL: (
        "crash.sigkill",
        "The process was killed with SIGKILL without an `OOMKilled` reason: a "
        "failing liveness probe after its grace period, the kubelet stopping the "
        "container, or a memory cgroup kill of a child process.",
        0.55,
    ),
    signal.SIGSEGV: (
        "crash.segfault",
        "The process crashed with a segmentation fault (SIGSEGV): invalid "
        "memory access in native code, an incompatible native library, or a "
        "binary built for a different CPU/libc.",
        0.65,
    ),
    signal.SIGTERM: (
        "crash.sigterm",
        "The process exited on SIGTERM: something asked it to stop, usually "
        "the kubelet after a failed liveness probe, or the app's own "
        "supervisor/entrypoint sending TERM.",
        0.45,
    ),
    signal.SIGINT: ("crash.sigint", "The process was interrupted (SIGINT).", 0.4),
}


def _exit_status(view: ReportView) -> tuple[Status, int] | None:
    if view.failure_reason in ("Evicted", "NodeLost") or "Evicted" in view.reasons:
        return None
    for status in crashed(view):
        if status.is_init or {"OOMKilled", "ContainerStatusUnknown"} & set(status.reasons):
            continue
        exit_code = status.terminated_code
        if exit_code is None:
            continue
        if exit_code == 0 and not (
            "CrashLoopBackOff" in status.reasons or status.restart_count > 0
        ):
            continue
        return status, exit_code
    return None


def analyze_exit_code(view: ReportView) -> Finding | None:
    """Explain a crash by its exit code (and signal for codes above 128)."""
    found = _exit_status(view)
    if found is None:
        return None
    status, exit_code = found
    name = status.name
    container = view.container(name)
    cmdline = " ".join((container.command + container.args) if container else [])
    if exit_code in _CODES:
        analyzer, what, why, confidence = _CODES[exit_code]
        signal_text = ""
    elif 128 < exit_code < 160:
        sig = exit_code - 128
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
        analyzer, why, confidence = _SIGNALS.get(
            sig,
            ("crash.signal", f"The process was terminated by {sig_name}.", 0.45),
        )
        what = f"killed by {sig_name} (exit {exit_code})"
        signal_text = f" = 128 + {sig} ({sig_name})"
    else:
        analyzer, what, why, confidence = (
            "crash.exit-code",
            f"exits with code {exit_code}",
            f"Exit code {exit_code} is specific to the application; its logs and "
            "documentation say what it means.",
            0.35,
        )
        signal_text = ""
    fix = [f"Read the last lines of the failed instance: `{logs_cmd(view, name)}`."]
    if exit_code in (126, 127) or analyzer == "crash.completed":
        runs = code(cmdline) if cmdline else "the image's ENTRYPOINT/CMD"
        image = status.image or (container.image if container else "<image>")
        fix.append(
            f"Check the command the container runs ({runs}): run the image locally with the "
            f"same command, e.g. `docker run --rm -it --entrypoint sh {image}`."
        )
    if analyzer == "crash.completed":
        fix.append("If it is a one-off task, run it as a Job/CronJob instead of a Deployment.")
    if analyzer in ("crash.sigkill", "crash.sigterm"):
        fix.append(
            "Check for liveness probe failures in the events (`Killing` / `Unhealthy`) and "
            "relax the probe (`initialDelaySeconds`, `timeoutSeconds`, `failureThreshold`)."
        )
    if analyzer == "crash.segfault":
        fix.append(
            "Check the image's architecture matches the node "
            "(`kubectl get nodes -L kubernetes.io/arch`)."
        )
    fix.append(
        "If the failures started with a new release, roll back while investigating: "
        f"`kubectl -n {view.namespace} rollout undo {view.owner_label}`."
    )
    kind = "Init container" if status.is_init else "Container"
    return make(
        analyzer,
        f"{kind} {name} {what}",
        f"{kind} {code(name)} {('keeps restarting: it ' if status.restart_count else '')}"
        f"terminated with exit code {code(str(exit_code))}{signal_text}"
        f"{f' after {status.restart_count} restarts' if status.restart_count else ''}. {why}",
        fix,
        crash_checks(view, name),
        (status_evidence(status),),
        confidence,
    )
