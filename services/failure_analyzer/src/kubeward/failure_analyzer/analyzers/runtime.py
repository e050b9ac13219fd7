"""CreateContainerError / RunContainerError: the runtime cannot create or start the process."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    events_cmd,
    from_log,
    from_message,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import ReportView, Status

_REASONS = frozenset(
    {"CreateContainerError", "RunContainerError", "StartError", "ContainerCannotRun"}
)
_NOT_IN_PATH = re.compile(r"exec: \"(?P<cmd>[^\"]+)\": executable file not found in \$PATH")
_NO_FILE = re.compile(r"exec: \"(?P<cmd>[^\"]+)\": stat (?P<path>\S+): no such file or directory")
_NO_PERMISSION = re.compile(r"exec: \"(?P<cmd>[^\"]+)\": permission denied")
_EXEC_FORMAT = re.compile(r"(?:exec (?P<cmd>\S+): )?exec format error")
_MOUNT_TYPE = re.compile(
    r"to rootfs at \"(?P<path>[^\"]+)\"[^\n]*?(?:not a directory|Are you trying to mount a "
    r"directory onto a file)"
)
_OCI = re.compile(
    r"(?:OCI runtime (?:create|exec|start) failed|failed to create containerd task"
    r"|container create failed|Error response from daemon)[^\n]*"
)


def _status(view: ReportView) -> Status | None:
    for status in (*view.init_statuses, *view.statuses):
        if _REASONS.intersection(status.reasons):
            return status
    return None


def _container_of(view: ReportView, status: Status | None) -> str:
    if status is not None:
        return status.name
    return view.containers[0].name if view.containers else "app"


def analyze_runtime_error(view: ReportView) -> Finding | None:
    """Why the container runtime could not create/start the process."""
    status = _status(view)
    hit = None
    found: list[Evidence | None] = []
    case = ""
    for candidate, pattern in (
        ("executable-not-found", _NOT_IN_PATH),
        ("no-such-file", _NO_FILE),
        ("permission-denied", _NO_PERMISSION),
        ("mount-type-mismatch", _MOUNT_TYPE),
        ("exec-format", _EXEC_FORMAT),
    ):
        hit = view.find_message(pattern)
        if hit is not None:
            case = candidate
            found.append(from_message(hit))
            break
    log_hit = None
    if hit is None:
        log_hit = view.find_log(_EXEC_FORMAT)
        if log_hit is not None:
            case = "exec-format"
            found.append(from_log(log_hit))
    if hit is None and log_hit is None:
        if status is None and not _REASONS.intersection(view.reasons):
            return None
        case = "failed"
        hit = view.find_message(_OCI)
        if hit is not None:
            found.append(from_message(hit))
    match = hit.match if hit is not None else (log_hit.match if log_hit is not None else None)
    groups = match.groupdict() if match is not None else {}
    name = _container_of(view, status)
    container = view.container(name)
    image = (
        (container.image if container else None) or (status.image if status else None) or "<image>"
    )
    command = groups.get("cmd") or (
        " ".join(container.command) if container and container.command else ""
    )
    if status is not None:
        found.append(status_evidence(status))
    owner = view.owner_label
    shell = f"docker run --rm -it --entrypoint sh {image}"
    text: dict[str, tuple[str, str, list[str], float]] = {
        "executable-not-found": (
            f"Command {command} not found in image {image}",
            f"The runtime cannot start container {code(name)}: the command {code(command)} "
            f"is not in the image {code(image)} (or not on its `$PATH`).",
            [
                f"Check what the image contains: `{shell} -c 'echo $PATH; which {command}'`.",
                f"Fix `command:` in {code(owner)} to the right binary (full path), or install "
                "it in the image.",
            ],
            0.95,
        ),
        "no-such-file": (
            f"Entrypoint {command} does not exist in image {image}",
            f"The runtime cannot start container {code(name)}: "
            f"{code(groups.get('path') or command)}"
            " does not exist in the image. Usually a wrong `command`/`args`, a script not "
            "copied into the image, or a volume mounted over the directory containing it.",
            [
                f"List the directory in the image: `{shell} -c 'ls -l "
                f"{(groups.get('path') or command).rsplit('/', 1)[0] or '/'}'`.",
                "Fix the path in `command:` or copy the file into the image; make sure no "
                "volumeMount hides it.",
            ],
            0.93,
        ),
        "permission-denied": (
            f"Entrypoint {command} is not executable",
            f"The runtime cannot execute {code(command)} in container {code(name)}: "
            "permission denied (no execute bit, or a noexec mount).",
            [
                "Make it executable in the image (`RUN chmod +x ...` or "
                "`COPY --chmod=755 ...`), or run it through its interpreter "
                f'(`command: ["sh", "{command}"]`).',
            ],
            0.92,
        ),
        "mount-type-mismatch": (
            f"Mount onto {groups.get('path')} mixes a file and a directory",
            f"The runtime cannot mount a volume at {code(groups.get('path') or '?')} in "
            f"container {code(name)}: a directory is being mounted onto a file (or vice "
            "versa), typically a `subPath` mount of a ConfigMap key whose target exists "
            "in the image as a directory.",
            [
                "Point `mountPath` at a file path that does not exist as a directory in the "
                "image (with `subPath: <key>`), or mount the whole ConfigMap at a directory.",
            ],
            0.9,
        ),
        "exec-format": (
            f"Image {image} is built for a different CPU architecture",
            f"Container {code(name)} cannot execute its binary: `exec format error` means "
            f"the image {code(image)} was built for another architecture than node "
            f"{code(view.node_name or '<node>')} (e.g. arm64 image on amd64), or a script "
            "lacks its `#!` line.",
            [
                "Build a multi-arch image: `docker buildx build --platform "
                f"linux/amd64,linux/arm64 -t {image} --push .`",
                "Or pin the pod to matching nodes with `nodeSelector: "
                "{kubernetes.io/arch: <arch>}`.",
            ],
            0.93,
        ),
        "failed": (
            f"Container runtime cannot start container {name}",
            f"The container runtime failed to create or start container {code(name)} "
            f"({code((status.reason if status else None) or view.failure_reason or 'error')}).",
            [
                f"Read the runtime's full error: `{events_cmd(view)}`.",
                "Check `command`/`args`, volume mounts and securityContext against the image.",
            ],
            0.7,
        ),
    }
    title, cause, fix, confidence = text[case]
    if case == "exec-format":
        verify_extra = [
            f"docker manifest inspect {image}",
            "kubectl get nodes -L kubernetes.io/arch",
        ]
    else:
        verify_extra = []
    return make(
        f"runtime.{case}",
        title,
        cause,
        fix,
        (*verify_extra, *crash_checks(view, name)),
        found,
        confidence,
    )
