"""One container of the pod spec, and one container's status, normalised."""

from __future__ import annotations

from typing import Any

from kubeward.failure_analyzer.report_view.accessors import as_dict, as_int, as_list, as_str
from kubeward.schemas.pod_failures import ContainerStatus


class Container:
    """One container (or init container) of the pod spec."""

    __slots__ = (
        "args",
        "command",
        "env",
        "env_from",
        "image",
        "image_pull_policy",
        "is_init",
        "limits",
        "name",
        "ports",
        "probes",
        "raw",
        "requests",
        "security_context",
        "volume_mounts",
    )

    def __init__(self, raw: dict[str, Any], is_init: bool) -> None:
        self.raw = raw
        self.is_init = is_init
        self.name = as_str(raw.get("name")) or "?"
        self.image = as_str(raw.get("image")) or ""
        self.image_pull_policy = as_str(raw.get("imagePullPolicy"))
        self.command = [str(c) for c in as_list(raw.get("command"))]
        self.args = [str(a) for a in as_list(raw.get("args"))]
        self.env = [as_dict(e) for e in as_list(raw.get("env"))]
        self.env_from = [as_dict(e) for e in as_list(raw.get("envFrom"))]
        self.volume_mounts = [as_dict(m) for m in as_list(raw.get("volumeMounts"))]
        resources = as_dict(raw.get("resources"))
        self.limits = as_dict(resources.get("limits"))
        self.requests = as_dict(resources.get("requests"))
        self.ports = [as_dict(p) for p in as_list(raw.get("ports"))]
        self.security_context = as_dict(raw.get("securityContext"))
        self.probes = {
            kind: as_dict(raw.get(f"{kind}Probe"))
            for kind in ("liveness", "readiness", "startup")
            if isinstance(raw.get(f"{kind}Probe"), dict)
        }

    @property
    def kind(self) -> str:
        """``init container`` or ``container``, for prose."""
        return "init container" if self.is_init else "container"

    def port_number(self, port: Any) -> int | None:
        """A probe's ``port`` (number or named port) as a number."""
        number = as_int(port)
        if number is not None:
            return number
        name = as_str(port)
        for entry in self.ports:
            if name is not None and entry.get("name") == name:
                return as_int(entry.get("containerPort"))
        return None


class Status:
    """One container's status: the agent's flattened one, completed from the manifest."""

    __slots__ = (
        "exit_code",
        "image",
        "is_init",
        "last_exit_code",
        "last_message",
        "last_reason",
        "last_signal",
        "message",
        "name",
        "ready",
        "reason",
        "restart_count",
        "state",
    )

    def __init__(self, name: str, is_init: bool) -> None:
        self.name = name
        self.is_init = is_init
        self.state: str | None = None
        self.reason: str | None = None
        self.message: str | None = None
        self.exit_code: int | None = None
        self.restart_count = 0
        self.ready: bool | None = None
        self.image: str | None = None
        self.last_reason: str | None = None
        self.last_exit_code: int | None = None
        self.last_message: str | None = None
        self.last_signal: int | None = None

    @classmethod
    def from_report(cls, status: ContainerStatus, is_init: bool) -> Status:
        """From the agent's flattened status."""
        out = cls(status.name or "?", is_init)
        out.state = status.state
        out.reason = status.reason
        out.message = status.message
        out.exit_code = status.exit_code
        out.restart_count = status.restart_count or 0
        out.ready = status.ready
        out.image = status.image
        out.last_reason = status.last_reason
        out.last_exit_code = status.last_exit_code
        return out

    def merge_manifest(self, raw: dict[str, Any]) -> None:
        """Fill what the flattened status lacks from the manifest's status entry."""
        state = as_dict(raw.get("state"))
        for name in ("waiting", "terminated", "running"):
            detail = state.get(name)
            if isinstance(detail, dict):
                if self.state is None:
                    self.state = name
                if self.state == name:
                    self.reason = self.reason or as_str(detail.get("reason"))
                    self.message = self.message or as_str(detail.get("message"))
                    if self.exit_code is None:
                        self.exit_code = as_int(detail.get("exitCode"))
                break
        last = as_dict(as_dict(raw.get("lastState")).get("terminated"))
        if last:
            self.last_reason = self.last_reason or as_str(last.get("reason"))
            if self.last_exit_code is None:
                self.last_exit_code = as_int(last.get("exitCode"))
            self.last_message = as_str(last.get("message"))
            self.last_signal = as_int(last.get("signal"))
        if not self.restart_count:
            self.restart_count = as_int(raw.get("restartCount")) or 0
        if self.image is None:
            self.image = as_str(raw.get("image"))
        if self.ready is None and isinstance(raw.get("ready"), bool):
            self.ready = raw["ready"]

    @property
    def terminated_code(self) -> int | None:
        """The exit code of the last termination: the current one, else the previous one."""
        if self.state == "terminated" and self.exit_code is not None:
            return self.exit_code
        return self.last_exit_code if self.last_exit_code is not None else self.exit_code

    @property
    def reasons(self) -> tuple[str, ...]:
        """Current and previous reasons, present ones only."""
        return tuple(r for r in (self.reason, self.last_reason) if r)
