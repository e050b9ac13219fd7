"""Failed pods: the Kure agent's report, the stored record, and the failure-analyzer's bus bodies.

The report is exactly what the Kure agent sends (``POST /api/pods/failed`` or the bus
subject ``kubeward.collect.pod-failures``). The agent sends ``null`` for absent values and
may add fields of its own; both are accepted. Its manifest is YAML produced from the
Python client's ``to_dict()``, so keys can be snake_case (``security_context``) as well as
camelCase (``securityContext``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

FailureStatus = Literal["new", "investigating", "resolved", "ignored"]
STATUSES: tuple[FailureStatus, ...] = ("new", "investigating", "resolved", "ignored")
OPEN_STATUSES: frozenset[str] = frozenset({"new", "investigating", "ignored"})
"""A record in one of these matches a repeat report for its pod (ignored ones stay quiet)."""
ACTIVE_STATUSES: tuple[FailureStatus, ...] = ("new", "investigating")

SolutionSource = Literal["offline", "llm", "offline-fallback"]
"""Where a record's ``solution`` came from: the offline analyzers, an LLM, or the offline
analyzers because the LLM failed or timed out (``llm_error`` says why)."""

FailureView = Literal["active", "history", "ignored"]

MAX_NAME = 253
"""Pod names are DNS-1123 subdomains; namespaces are shorter still."""
NAME_REQUIRED = "Pod name and namespace are required"


class PodEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One Kubernetes event about the pod, as the agent reports it."""

    type: str | None = None
    reason: str | None = None
    message: str | None = None
    timestamp: str | None = None
    count: int | None = None


class ContainerStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One container's status, flattened by the agent: ``state`` is ``waiting``,
    ``running`` or ``terminated``; ``reason``/``message``/``exit_code`` belong to it."""

    name: str | None = None
    ready: bool | None = None
    restart_count: int | None = None
    image: str | None = None
    state: str | None = None
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    last_state: str | None = None
    """Kubeward extension: the previous instance's state (``terminated``), when sent."""
    last_reason: str | None = None
    last_exit_code: int | None = None


class FailureLogBlock(msgspec.Struct, kw_only=True):
    """A gzip+base64 log block of the agent's optional ``failure_logs``."""

    data: str
    original_size: int | None = None
    lines: int | None = None
    truncated: bool | None = None


class FailureLogEntry(msgspec.Struct, kw_only=True):
    """Previous/current logs of one crashed container, or why they are missing."""

    previous: FailureLogBlock | None = None
    current: FailureLogBlock | None = None
    error: str | None = None


class FailureLogs(msgspec.Struct, kw_only=True):
    """The agent's optional ``failure_logs`` (previous-instance logs of crashed containers)."""

    version: int | None = 1
    encoding: str | None = "gzip+base64"
    containers: dict[str, FailureLogEntry] = {}


class PodFailureReport(msgspec.Struct, kw_only=True):
    """A failed-pod report from the Kure agent."""

    pod_name: str = ""
    namespace: str = ""
    node_name: str | None = None
    phase: str | None = None
    creation_timestamp: str | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    """Kubeward extension; the Kure agent reports init failures through events."""
    events: list[PodEvent] | None = None
    logs: str | None = None
    manifest: str | None = None
    failure_logs: FailureLogs | None = None


class PodFailure(msgspec.Struct, kw_only=True):
    """A stored failure record, as the API returns it (Kure's ``PodFailureResponse`` plus
    kubeward's fields)."""

    id: int
    pod_name: str
    namespace: str
    node_name: str | None = None
    phase: str | None = None
    creation_timestamp: str | None = None
    failure_reason: str
    failure_message: str | None = None
    container_statuses: list[ContainerStatus] = []
    events: list[PodEvent] = []
    logs: str = ""
    manifest: str = ""
    solution: str
    solution_source: SolutionSource = "offline"
    llm_error: str | None = None
    analyzer: str | None = None
    """The offline analyzer whose finding the solution is built on."""
    timestamp: str
    """When the pod was created (the agent's ``creation_timestamp``), else first seen."""
    first_seen: str
    last_seen: str
    report_count: int = 1
    status: FailureStatus = "new"
    dismissed: bool = False
    """Kure compatibility: true once the record left the active list."""
    resolved_at: str | None = None
    status_changed_at: str | None = None
    resolution_note: str | None = None
    """Kure: the note sent with a resolution (``PATCH /api/pods/failed/{id}/status``)."""
    logs_captured: bool = False
    """Kure: crash logs from the agent's ``failure_logs`` are stored for this record."""
    log_aware_solution: str | None = None
    """Kure: the last answer of ``POST /api/pods/failed/{id}/troubleshoot``."""
    log_aware_solution_generated_at: str | None = None
    auto_solution_mode: str = "quick"
    """Kure: ``quick`` (the solution above) or ``log_aware``; kubeward always says quick."""


# --- Internal bus bodies -------------------------------------------------------------


class FailureReportEnvelope(msgspec.Struct, kw_only=True):
    """A validated report on its way from ingest to failure-analyzer (msgpack)."""

    origin_seq: int
    """The report's ``COLLECT`` sequence: with ``index``, makes redelivery idempotent."""
    index: int = 0
    """Position of the report in its collect message (agents may send an array)."""
    origin_us: int
    """When it reached ``COLLECT``, Unix microseconds."""
    reply_to: str | None = None
    report: PodFailureReport


class FailureReportBatch(msgspec.Struct, kw_only=True):
    """One ``kubeward.failures.report`` message: the reports of one or more collect messages."""

    reports: list[FailureReportEnvelope]


class DiagnoseJob(msgspec.Struct, kw_only=True):
    """Ask an LLM about a record (msgpack): queued after the offline diagnosis."""

    id: int
    report_seq: int
    """The report the record held when queued; a newer report queues its own job."""


class FailureQuery(msgspec.Struct, kw_only=True):
    """List failure records of one view, newest first (``cursor`` continues a page)."""

    view: FailureView = "active"
    limit: int = 1000
    cursor: str | None = None
    namespace: str | None = None


class SetStatus(msgspec.Struct, kw_only=True, tag="status", tag_field="action"):
    """``PUT /api/pods/{id}/status``."""

    id: int
    status: FailureStatus
    actor: str = "api"


class Dismiss(msgspec.Struct, kw_only=True, tag="dismiss", tag_field="action"):
    """``DELETE /api/pods/failed/{id}``: the failure leaves the active list as resolved."""

    id: int
    actor: str = "api"


class Restore(msgspec.Struct, kw_only=True, tag="restore", tag_field="action"):
    """``PUT /api/pods/ignored/{id}/restore``: an ignored failure becomes new again."""

    id: int
    actor: str = "api"


class RetrySolution(msgspec.Struct, kw_only=True, tag="retry", tag_field="action"):
    """``POST /api/pods/failed/{id}/retry-solution``: diagnose again (LLM when configured)."""

    id: int
    actor: str = "api"


class DismissDeleted(msgspec.Struct, kw_only=True, tag="dismiss-deleted", tag_field="action"):
    """``POST /api/pods/dismiss-deleted``: the agent saw the pod deleted or recovered."""

    namespace: str
    pod_name: str
    actor: str = "agent"


class GetFailure(msgspec.Struct, kw_only=True, tag="get", tag_field="action"):
    """One failure record (the mirror service reads the failed pod's manifest this way)."""

    id: int


class UpdateStatus(msgspec.Struct, kw_only=True, tag="update-status", tag_field="action"):
    """``PATCH /api/pods/failed/{id}/status`` (Kure's dashboard): Kure's transitions
    (new -> investigating/ignored, investigating -> ignored, ignored -> new)."""

    id: int
    status: FailureStatus
    resolution_note: str | None = None
    actor: str = "api"


class DeleteRecord(msgspec.Struct, kw_only=True, tag="delete-record", tag_field="action"):
    """``DELETE /api/pods/records/{id}``: delete a resolved or ignored record for good."""

    id: int
    actor: str = "api"


class GetPodManifest(msgspec.Struct, kw_only=True, tag="pod-manifest", tag_field="action"):
    """``GET /api/pods/{namespace}/{pod_name}/manifest``: the manifest of the pod's latest
    failure record."""

    namespace: str
    pod_name: str


class Troubleshoot(msgspec.Struct, kw_only=True, tag="troubleshoot", tag_field="action"):
    """``POST /api/pods/failed/{id}/troubleshoot``: a diagnosis built on the stored crash
    logs (cached on the record unless ``regenerate``)."""

    id: int
    regenerate: bool = False
    actor: str = "api"


FailureCommand = (
    SetStatus
    | Dismiss
    | Restore
    | RetrySolution
    | DismissDeleted
    | GetFailure
    | UpdateStatus
    | DeleteRecord
    | GetPodManifest
    | Troubleshoot
)
