"""Crashes recognisable from the app's last log lines: permissions, memory, ports, panics."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    from_log,
    is_crashing,
    kubectl,
    log_finding_context,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import (
    ReportView,
    as_int,
    format_bytes,
    parse_quantity,
)

_PERMISSION = tuple(
    re.compile(p)
    for p in (
        r"EACCES: permission denied,? (?:\w+ )?'?(?P<path>[^'\s]+)'?",
        r"PermissionError: \[Errno 13\] Permission denied: '(?P<path>[^']+)'",
        r"(?:open|mkdir|create|write|remove|chmod|chown) (?P<path>/[^\s:]+): (?:permission denied"
        r"|read-only file system)",
        r"AccessDeniedException: (?P<path>/\S+)",
        r"[Rr]ead-only file system(?:: '(?P<path>[^']+)')?",
        r"listen tcp [\d.]*:(?P<port>\d+): bind: permission denied",
        r"(?i:permission denied)",
    )
)
_APP_OOM = re.compile(
    r"java\.lang\.OutOfMemoryError(?:: [\w ]+)?|JavaScript heap out of memory|\bMemoryError\b|"
    r"Cannot allocate memory|fatal error: runtime: out of memory|std::bad_alloc|"
    r"out of memory: cannot allocate"
)
_PORT_IN_USE = (
    re.compile(r"listen tcp [\d.]*:(?P<port>\d{2,5}): bind: address already in use"),
    re.compile(r"(?:EADDRINUSE|[Aa]ddress already in use)[^\n]*?:(?P<port>\d{2,5})\b"),
    re.compile(r"(?:EADDRINUSE|[Aa]ddress already in use|BindException)(?P<port>)"),
)
_PORT_BEFORE = re.compile(r"(?:listen tcp [\d.]*:|port |:::|0\.0\.0\.0:)(\d{2,5})")
_PANIC = tuple(
    re.compile(p)
    for p in (
        r"panic: [^\n]+",
        r"thread '[^']+' panicked at [^\n]+",
        r"Segmentation fault|SIGSEGV|segfault",
        r"Fatal Python error: [^\n]+",
        r"fatal error: [^\n]+",
    )
)
_UNCAUGHT = tuple(
    re.compile(p, re.M)
    for p in (
        r"^(?:\w+\.)*\w*(?:Error|Exception): [^\n]+",
        r"Exception in thread \"[^\"]+\" [^\n]+",
        r"(?:Uncaught|Unhandled) [^\n]+",
    )
)


def analyze_permission_denied(view: ReportView) -> Finding | None:
    """The app exits on a permission error: a file it writes, a low port as non-root."""
    if not view.logs or not is_crashing(view):
        return None
    hit = None
    for pattern in _PERMISSION:
        hit = view.find_log(pattern)
        if hit is not None:
            break
    if hit is None:
        return None
    name, status = log_finding_context(view, hit)
    container = view.container(name)
    groups = hit.match.groupdict()
    path, port = groups.get("path"), groups.get("port")
    sc = container.security_context if container else {}
    pod_sc = view.spec.get("securityContext") or {}
    notes: list[str] = []
    if sc.get("readOnlyRootFilesystem") is True:
        notes.append("the container has `readOnlyRootFilesystem: true`")
    run_as = as_int(sc.get("runAsUser")) or as_int(
        pod_sc.get("runAsUser") if isinstance(pod_sc, dict) else None
    )
    if run_as is not None:
        notes.append(f"it runs as user {run_as}")
    elif sc.get("runAsNonRoot") is True:
        notes.append("it must run as non-root")
    context = f" ({'; '.join(notes)})" if notes else ""
    if port:
        cause = (
            f"Container {code(name)} may not bind port {code(port)}: ports below 1024 need "
            f"root or `NET_BIND_SERVICE`{context}."
        )
        fix = [
            "Make the app listen on a port ≥ 1024 (e.g. 8080) and map it in the Service "
            "(`targetPort: 8080`).",
            "Or grant the capability:\n```yaml\nsecurityContext:\n  capabilities:\n"
            "    add: [NET_BIND_SERVICE]\n```",
        ]
    else:
        where = code(path) if path else "a path it writes"
        directory = (path or "/data").rsplit("/", 1)[0] or "/"
        cause = (
            f"Container {code(name)} is denied access to {where}{context}; the image's "
            "files belong to another user, or the filesystem is read-only."
        )
        fix = [
            f"Mount a writable volume where it writes:\n```yaml\nvolumeMounts:\n- name: "
            f"scratch\n  mountPath: {directory}\nvolumes:\n- name: scratch\n  emptyDir: {{}}\n```",
            "For volumes owned by root, set the pod's `securityContext.fsGroup` to the app's "
            "group, or fix ownership in the image (`chown` in the Dockerfile).",
        ]
    return make(
        "crash.permission-denied",
        f"Permission denied in container {name}" + (f": {path}" if path else ""),
        f"{cause} (log: {code(hit.line[:160])})",
        fix,
        crash_checks(view, name),
        (from_log(hit), status_evidence(status) if status else None),
        0.85,
    )


def analyze_app_out_of_memory(view: ReportView) -> Finding | None:
    """The runtime ran out of heap (Java, Node, Python, Go) before the kernel OOM killer."""
    if not view.logs or not is_crashing(view):
        return None
    hit = view.find_log(_APP_OOM)
    if hit is None:
        return None
    name, status = log_finding_context(view, hit)
    container = view.container(name)
    limit = parse_quantity(container.limits.get("memory")) if container else None
    limit_text = (
        f"The container's memory limit is {code(format_bytes(limit))}."
        if limit
        else "The container has no memory limit."
    )
    line = hit.line
    if "java" in line.lower():
        knob = (
            "For the JVM, size the heap from the limit: `JAVA_TOOL_OPTIONS="
            "-XX:MaxRAMPercentage=75.0` (drop fixed `-Xmx` values larger than the limit)."
        )
    elif "JavaScript heap" in line:
        knob = (
            "For Node.js, raise the heap to ~75 % of the limit: `NODE_OPTIONS="
            "--max-old-space-size=<MiB>`."
        )
    else:
        knob = "Reduce what the app keeps in memory (batch sizes, caches) or raise the limit."
    new_limit = format_bytes(limit * 2) if limit else "1Gi"
    return make(
        "crash.app-out-of-memory",
        f"Out of memory in container {name}",
        f"Container {code(name)} ran out of memory inside its runtime (log: "
        f"{code(line[:160])}). {limit_text}",
        (
            knob,
            f"If the workload needs more, raise the limit:\n```bash\nkubectl -n "
            f"{view.namespace} set resources {view.owner_label} -c {name} "
            f"--limits=memory={new_limit}\n```",
        ),
        (kubectl(view, f"top pod {view.pod} --containers"), *crash_checks(view, name)),
        (from_log(hit), status_evidence(status) if status else None),
        0.9,
    )


def analyze_port_in_use(view: ReportView) -> Finding | None:
    """The app cannot bind its port: another process or container already has it."""
    if not view.logs or not is_crashing(view):
        return None
    hit = None
    for pattern in _PORT_IN_USE:
        hit = view.find_log(pattern)
        if hit is not None:
            break
    if hit is None:
        return None
    name, status = log_finding_context(view, hit)
    port = hit.match.group("port") or None
    if port is None:
        before = _PORT_BEFORE.search(hit.line)
        port = before.group(1) if before else None
    others = []
    for container in view.containers + view.init_containers:
        if container.name == name:
            continue
        for entry in container.ports:
            if port and str(entry.get("containerPort")) == port:
                others.append(container.name)
    host_network = view.spec.get("hostNetwork") is True
    cause = f"Container {code(name)} cannot bind port {code(port or '?')}: it is already in use."
    if others:
        cause += (
            f" Containers of a pod share one network namespace and {', '.join(map(code, others))}"
            " declares the same port."
        )
    elif host_network:
        cause += " The pod uses `hostNetwork: true`, so a process on the node can hold it."
    else:
        cause += (
            " Another container of the pod (a sidecar) or a second server started by the "
            "app itself holds it."
        )
    return make(
        "crash.port-in-use",
        f"Port {port or '?'} already in use in container {name}",
        f"{cause} (log: {code(hit.line[:160])})",
        (
            "Give each container of the pod its own port (app and sidecars), and update "
            "the Service `targetPort` accordingly.",
            "With `hostNetwork: true`, pick a port free on every node or drop hostNetwork.",
        ),
        crash_checks(view, name),
        (from_log(hit), status_evidence(status) if status else None),
        0.88,
    )


def analyze_panic(view: ReportView) -> Finding | None:
    """The process panicked or segfaulted (Go/Rust panics, SIGSEGV, fatal runtime errors)."""
    if not view.logs or not is_crashing(view):
        return None
    for pattern in _PANIC:
        hit = view.find_log(pattern)
        if hit is None:
            continue
        name, status = log_finding_context(view, hit)
        return make(
            "crash.panic",
            f"Container {name} panicked: {hit.line[:100]}",
            f"Container {code(name)} crashed with a fatal error (log: {code(hit.line[:160])}). "
            "This is a bug in the app (nil pointer, index out of range, native crash) "
            "triggered at startup or by its input/config.",
            (
                f"Read the stack trace: `{kubectl(view, f'logs {view.pod} -c {name} --previous')}`"
                " and fix the failing code path.",
                "If it started with a new image, roll back meanwhile:\n```bash\n"
                f"kubectl -n {view.namespace} rollout undo {view.owner_label}\n```",
            ),
            crash_checks(view, name),
            (from_log(hit), status_evidence(status) if status else None),
            0.78,
        )
    return None


def analyze_uncaught_exception(view: ReportView) -> Finding | None:
    """The app died on an unhandled exception no more specific analyzer recognised."""
    if not view.logs or not is_crashing(view):
        return None
    for pattern in _UNCAUGHT:
        hit = view.find_log(pattern)
        if hit is None:
            continue
        name, status = log_finding_context(view, hit)
        return make(
            "crash.unhandled-exception",
            f"Unhandled exception in container {name}",
            f"Container {code(name)} exits on an unhandled error: {code(hit.line[:200])}.",
            (
                f"Read the full trace: `{kubectl(view, f'logs {view.pod} -c {name} --previous')}`.",
                "Fix the configuration or code the exception points to; if it came with a new "
                f"release, roll back: `kubectl -n {view.namespace} rollout undo "
                f"{view.owner_label}`.",
            ),
            crash_checks(view, name),
            (from_log(hit), status_evidence(status) if status else None),
            0.62,
        )
    return None
