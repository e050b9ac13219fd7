"""Failing liveness / readiness / startup probes (``Unhealthy`` and ``Killing`` events)."""

from __future__ import annotations

import re
from typing import Any

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    evidence,
    from_message,
    kubectl,
    make,
    rollout_checks,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import (
    Container,
    ReportView,
    as_dict,
    as_int,
    as_str,
)

_PROBE_FAILED = {
    kind: re.compile(rf"{kind.capitalize()} probe (?:failed|errored):?\s*(?P<detail>.*)", re.S)
    for kind in ("liveness", "readiness", "startup")
}
_KILLING = re.compile(r"Container (?P<name>[\w.\-]+) failed (?P<kind>liveness|startup) probe")
_STATUS_CODE = re.compile(r"statuscode: (?P<code>\d{3})")
_REFUSED = re.compile(
    r"dial tcp (?P<addr>[\d.:\[\]a-f]+:(?P<port>\d+)): connect: connection refused"
)
_TIMEOUT = re.compile(r"context deadline exceeded|Client\.Timeout|timeout|timed out", re.I)


def _describe(probe: dict[str, Any], container: Container) -> tuple[str, int | None, str]:
    """(what it checks, port number, short description incl. timings)."""
    http = as_dict(probe.get("httpGet"))
    tcp = as_dict(probe.get("tcpSocket"))
    grpc = as_dict(probe.get("grpc"))
    exec_ = as_dict(probe.get("exec"))
    port: int | None = None
    if http:
        port = container.port_number(http.get("port"))
        what = f"HTTP GET {as_str(http.get('path')) or '/'} on port {http.get('port')}"
    elif tcp:
        port = container.port_number(tcp.get("port"))
        what = f"TCP connect to port {tcp.get('port')}"
    elif grpc:
        port = as_int(grpc.get("port"))
        what = f"gRPC health check on port {grpc.get('port')}"
    elif exec_:
        what = "exec " + " ".join(str(c) for c in exec_.get("command") or [])
    else:
        what = "probe"
    timings = ", ".join(
        f"{key}={probe.get(key)}"
        for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")
        if probe.get(key) is not None
    )
    return what, port, f"{what} ({timings})" if timings else what


def _probe_finding(view: ReportView, kind: str) -> Finding | None:
    hit = view.find_message(_PROBE_FAILED[kind], events=("Unhealthy",), only_events=True)
    if hit is None:
        return None
    detail = hit.match.group("detail").strip()
    killed = view.find_message(_KILLING, events=("Killing",), only_events=True)
    name = killed.match.group("name") if killed and killed.match["kind"] == kind else None
    container = view.container(name) if name else None
    if container is None:
        container = next((c for c in view.containers if kind in c.probes), None)
    cname = container.name if container else (name or "app")
    probe = container.probes.get(kind, {}) if container else {}
    found: list[Evidence | None] = [from_message(hit)]
    if killed is not None:
        found.append(from_message(killed))
    status = view.status(cname)
    if status is not None and (status.restart_count or not status.ready):
        found.append(status_evidence(status))
    what, port, described = (
        _describe(probe, container)
        if container and probe
        else ("probe", None, "(probe not in the manifest)")
    )
    if container and probe:
        found.append(evidence("manifest", f"containers[{cname}].{kind}Probe", described))
    declared = [as_int(p.get("containerPort")) for p in (container.ports if container else [])]
    declared_ports = [p for p in declared if p is not None]
    refused = _REFUSED.search(detail)
    status_code = _STATUS_CODE.search(detail)
    owner = view.owner_label
    if refused:
        probe_port = port or int(refused.group("port"))
        cause = f"nothing accepts connections on port {code(str(probe_port))}"
        if declared_ports and probe_port not in declared_ports:
            cause += (
                f", and the container declares port(s) {', '.join(map(str, declared_ports))}: "
                "the probe targets the wrong port"
            )
        else:
            cause += ": the app is not listening there (yet), listens on another port, or "
            cause += "binds only to 127.0.0.1"
        fix = [
            f"Make the probe's port match the port the app listens on (check with "
            f"`{kubectl(view, f'exec {view.pod} -c {cname} -- netstat -tlnp')}` or the app's "
            "startup log).",
            "If the app just starts slowly, add a startupProbe instead of a long "
            "initialDelaySeconds:\n```yaml\nstartupProbe:\n  httpGet:\n    path: "
            f"{as_str(as_dict(probe.get('httpGet')).get('path')) or '/healthz'}\n    port: "
            f"{probe_port}\n  periodSeconds: 5\n  failureThreshold: 30\n```",
        ]
    elif status_code:
        number = int(status_code.group("code"))
        cause = f"the endpoint answers HTTP {code(str(number))}"
        if number == 404:
            cause += ": the probe path does not exist in the app"
            fix = [f"Point the probe at the app's real health path ({what} today)."]
        else:
            cause += ": the app reports itself unhealthy (often a dependency check inside "
            cause += "the health endpoint)"
            fix = [
                "Look at the app's logs around the probe times for the failing check.",
                "Keep liveness checks local to the process; put dependency checks in "
                "readiness only.",
            ]
    elif _TIMEOUT.search(detail):
        timeout = probe.get("timeoutSeconds", 1)
        cause = (
            f"the app does not answer within `timeoutSeconds: {timeout}`: it is overloaded, "
            "CPU-throttled or blocked"
        )
        fix = [
            f"Raise `timeoutSeconds` (e.g. to {max(3, int(as_int(timeout) or 1) * 3)}) and "
            "`failureThreshold` for the probe.",
            "Check CPU throttling: raise the CPU limit if the container is throttled.",
        ]
    else:
        cause = f"the check fails: {code(detail[:160])}"
        fix = [f"Run the check by hand in the container and fix it ({what})."]
    consequence = {
        "liveness": "the kubelet kills and restarts the container after `failureThreshold` "
        "failures, which looks like a crash loop",
        "readiness": "the pod is kept out of its Services' endpoints (not Ready), so it "
        "receives no traffic",
        "startup": "the container is killed and restarted before it ever finishes starting",
    }[kind]
    fix.append(
        f"Apply the probe change to {code(owner)}: `kubectl -n {view.namespace} edit {owner}`."
    )
    return make(
        f"probe.{kind}-failed",
        f"{kind.capitalize()} probe failing for container {cname}",
        f"The {kind} probe of container {code(cname)} ({described}) fails: {cause}. As a "
        f"result {consequence}.",
        fix,
        (*rollout_checks(view), kubectl(view, f"get pod {view.pod} -o wide"), events_cmd(view)),
        found,
        {"liveness": 0.88, "startup": 0.87, "readiness": 0.8}[kind],
    )


def analyze_liveness_probe(view: ReportView) -> Finding | None:
    """The liveness probe fails and the kubelet restarts the container."""
    return _probe_finding(view, "liveness")


def analyze_readiness_probe(view: ReportView) -> Finding | None:
    """The readiness probe fails and the pod stays not Ready."""
    return _probe_finding(view, "readiness")


def analyze_startup_probe(view: ReportView) -> Finding | None:
    """The startup probe fails and the container is restarted before it is up."""
    return _probe_finding(view, "startup")
