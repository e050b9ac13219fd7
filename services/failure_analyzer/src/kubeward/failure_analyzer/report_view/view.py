"""The read-only view analyzers read a failed-pod report through, parsed lazily, once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

from kubeward.failure_analyzer.report_view.accessors import as_dict, as_list, as_str
from kubeward.failure_analyzer.report_view.containers import Container, Status
from kubeward.failure_analyzer.report_view.log_blocks import (
    LOG_TAIL_CHARS,
    LogHit,
    LogSource,
    cap_lines,
    decode_block,
    line_at,
)
from kubeward.failure_analyzer.report_view.manifest import parse_manifest
from kubeward.schemas.pod_failures import ContainerStatus, PodEvent, PodFailureReport


class Message(NamedTuple):
    """A message of the report: the failure message, a status message or an event."""

    source: str
    """Evidence source: ``message``, ``container_status`` or ``event``."""
    label: str
    """E.g. ``event Failed`` or ``status of container api``."""
    text: str
    reason: str
    """The event's or status's reason."""
    container: str | None = None


class MessageHit(NamedTuple):
    """A message a pattern matched."""

    message: Message
    match: re.Match[str]

    @property
    def label(self) -> str:
        """Where the message came from."""
        return self.message.label

    @property
    def text(self) -> str:
        """The whole message."""
        return self.message.text

    @property
    def source(self) -> str:
        """The evidence source."""
        return self.message.source


class ReportView:
    """Everything analyzers read about a report, normalised; parsed lazily, once."""

    def __init__(self, report: PodFailureReport, now: datetime | None = None) -> None:
        self.report = report
        self.pod = report.pod_name or "<pod>"
        self.namespace = report.namespace or "default"
        self.failure_reason = report.failure_reason or ""
        self.failure_message = report.failure_message or ""
        self.phase = report.phase or ""
        self.node_name = report.node_name
        self.events: list[PodEvent] = list(report.events or ())
        self._now = now

    # Manifest -----------------------------------------------------------------------------

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The parsed, camelCase manifest (``{}`` when there is none usable)."""
        return parse_manifest(self.report.manifest)

    @cached_property
    def spec(self) -> dict[str, Any]:
        """``spec`` of the manifest."""
        return as_dict(self.manifest.get("spec"))

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """``metadata`` of the manifest."""
        return as_dict(self.manifest.get("metadata"))

    @cached_property
    def status_raw(self) -> dict[str, Any]:
        """``status`` of the manifest."""
        return as_dict(self.manifest.get("status"))

    @cached_property
    def containers(self) -> list[Container]:
        """The app containers of the spec."""
        return [Container(as_dict(c), False) for c in as_list(self.spec.get("containers"))]

    @cached_property
    def init_containers(self) -> list[Container]:
        """The init containers of the spec."""
        raw = as_list(self.spec.get("initContainers"))
        return [Container(as_dict(c), True) for c in raw]

    def container(self, name: str | None) -> Container | None:
        """The container or init container called ``name``."""
        for item in (*self.containers, *self.init_containers):
            if item.name == name:
                return item
        return None

    @cached_property
    def volumes(self) -> list[dict[str, Any]]:
        """``spec.volumes``."""
        return [as_dict(v) for v in as_list(self.spec.get("volumes"))]

    @cached_property
    def node_selector(self) -> dict[str, Any]:
        """``spec.nodeSelector``."""
        return as_dict(self.spec.get("nodeSelector"))

    @cached_property
    def affinity(self) -> dict[str, Any]:
        """``spec.affinity``."""
        return as_dict(self.spec.get("affinity"))

    @cached_property
    def tolerations(self) -> list[dict[str, Any]]:
        """``spec.tolerations``."""
        return [as_dict(t) for t in as_list(self.spec.get("tolerations"))]

    @cached_property
    def service_account(self) -> str:
        """``spec.serviceAccountName`` (``default`` when unset)."""
        spec = self.spec
        return (
            as_str(spec.get("serviceAccountName"))
            or as_str(spec.get("serviceAccount"))
            or ("default")
        )

    @cached_property
    def image_pull_secrets(self) -> list[str]:
        """Names in ``spec.imagePullSecrets``."""
        names = (as_str(as_dict(s).get("name")) for s in as_list(self.spec.get("imagePullSecrets")))
        return [n for n in names if n]

    @cached_property
    def workload(self) -> str | None:
        """``deployment/api`` (or statefulset/..., job/...) owning the pod, when known."""
        for ref in as_list(self.metadata.get("ownerReferences")):
            ref = as_dict(ref)
            kind, name = as_str(ref.get("kind")), as_str(ref.get("name"))
            if not kind or not name:
                continue
            if kind == "ReplicaSet":
                template_hash = as_str(
                    as_dict(self.metadata.get("labels")).get("pod-template-hash")
                )
                if template_hash and name.endswith("-" + template_hash):
                    return "deployment/" + name[: -len(template_hash) - 1]
                return "replicaset/" + name
            return f"{kind.lower()}/{name}"
        return None

    @property
    def owner_label(self) -> str:
        """The workload to edit, or the pod itself, for fix steps."""
        return self.workload or f"pod/{self.pod}"

    # Statuses ---------------------------------------------------------------------------------

    def _statuses(
        self, reported: list[ContainerStatus] | None, key: str, init: bool
    ) -> list[Status]:
        from_manifest = {
            as_str(as_dict(s).get("name")) or "?": as_dict(s)
            for s in as_list(self.status_raw.get(key))
        }
        out: list[Status] = []
        for status in reported or ():
            if status is None:
                continue
            item = Status.from_report(status, init)
            raw = from_manifest.pop(item.name, None)
            if raw is not None:
                item.merge_manifest(raw)
            out.append(item)
        for name, raw in from_manifest.items():
            item = Status(name, init)
            item.merge_manifest(raw)
            out.append(item)
        return out

    @cached_property
    def statuses(self) -> list[Status]:
        """App container statuses (the report's, completed from the manifest)."""
        return self._statuses(self.report.container_statuses, "containerStatuses", False)

    @cached_property
    def init_statuses(self) -> list[Status]:
        """Init container statuses (the report's extension, else the manifest's)."""
        return self._statuses(self.report.init_container_statuses, "initContainerStatuses", True)

    def status(self, name: str | None) -> Status | None:
        """The status of container ``name``."""
        for item in (*self.statuses, *self.init_statuses):
            if item.name == name:
                return item
        return None

    @cached_property
    def reasons(self) -> frozenset[str]:
        """Every reason seen: the report's, the statuses' (current and last), events'."""
        found = {self.failure_reason}
        for status in (*self.statuses, *self.init_statuses):
            found.update(status.reasons)
        found.update(e.reason for e in self.events if e.reason)
        found.discard("")
        return frozenset(found)

    # Events and messages ----------------------------------------------------------------

    def events_with(self, *reasons: str) -> list[PodEvent]:
        """Events whose reason is one of ``reasons``, in report order."""
        return [e for e in self.events if e.reason in reasons]

    @cached_property
    def messages(self) -> list[Message]:
        """Every message: the failure message, the statuses' and the events'."""
        out: list[Message] = []
        if self.failure_message:
            label = f"failure message ({self.failure_reason or 'unknown'})"
            out.append(Message("message", label, self.failure_message, self.failure_reason))
        for status in (*self.statuses, *self.init_statuses):
            label = f"status of {'init ' if status.is_init else ''}container {status.name}"
            if status.message:
                out.append(
                    Message(
                        "container_status", label, status.message, status.reason or "", status.name
                    )
                )
            if status.last_message:
                out.append(
                    Message(
                        "container_status",
                        label,
                        status.last_message,
                        status.last_reason or "",
                        status.name,
                    )
                )
        for event in self.events:
            if event.message:
                reason = event.reason or ""
                out.append(Message("event", f"event {reason or '?'}", event.message, reason))
        return out

    def find_message(
        self, pattern: re.Pattern[str], *, events: tuple[str, ...] = (), only_events: bool = False
    ) -> MessageHit | None:
        """The first message ``pattern`` matches; ``events`` limits which events count."""
        for message in self.messages:
            if message.source == "event":
                if events and message.reason not in events:
                    continue
            elif only_events:
                continue
            match = pattern.search(message.text)
            if match is not None:
                return MessageHit(message, match)
        return None

    @cached_property
    def selector(self) -> str | None:
        """A label selector for the pod's replicas (``app=api``), from its labels."""
        labels = as_dict(self.metadata.get("labels"))
        skip = (
            "pod-template-hash",
            "controller-revision-hash",
            "statefulset.kubernetes.io/pod-name",
            "apps.kubernetes.io/pod-index",
            "batch.kubernetes.io/controller-uid",
            "controller-uid",
        )
        parts = [f"{k}={v}" for k, v in labels.items() if k not in skip and as_str(v) is not None]
        return ",".join(parts[:3]) if parts else None

    # Logs ---------------------------------------------------------------------------------

    @cached_property
    def logs(self) -> list[LogSource]:
        """Decoded log sources, previous instances first, each its last 64 KiB."""
        out: list[LogSource] = []
        failure_logs = self.report.failure_logs
        if failure_logs is not None:
            for kind in ("previous", "current"):
                for name, entry in (failure_logs.containers or {}).items():
                    block = getattr(entry, kind, None) if entry is not None else None
                    if block is None or not block.data:
                        continue
                    text = decode_block(block.data)
                    if text:
                        out.append(LogSource(name, kind, cap_lines(text)[0]))
        if self.report.logs:
            single = self.containers[0].name if len(self.containers) == 1 else None
            tail = cap_lines(self.report.logs[-LOG_TAIL_CHARS:])[0]
            out.append(LogSource(single, "logs", tail))
        return out

    def find_log(self, pattern: re.Pattern[str], container: str | None = None) -> LogHit | None:
        """The last line ``pattern`` matches in the first source that has one."""
        for source in self.logs:
            if container is not None and source.container not in (container, None):
                continue
            last = None
            for last in pattern.finditer(source.text):  # noqa: B007 - keep the last match
                pass
            if last is not None:
                return LogHit(source, line_at(source.text, last.start(), last.end()), last)
        return None

    def iter_logs(self, container: str | None = None) -> Iterator[LogSource]:
        """Log sources, optionally of one container."""
        for source in self.logs:
            if container is None or source.container in (container, None):
                yield source

    # Time ------------------------------------------------------------------------------------

    @cached_property
    def age_seconds(self) -> float | None:
        """Seconds since the pod was created, when the timestamp parses."""
        raw = self.report.creation_timestamp
        if not raw:
            return None
        try:
            created = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        now = self._now or datetime.now(UTC)
        return (now - created).total_seconds()
