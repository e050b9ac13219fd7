"""The whole bus in one file: streams, subjects, request/reply names and headers.

Public (collectors depend on it): stream ``COLLECT`` with ``kubeward.collect.>`` and stream
``FEED`` with ``kubeward.feed.>``. Everything else is internal to the services.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kubeward.schemas.arkyn import ArkynCommand, ArkynLogIn, HttpLogBatch
from kubeward.schemas.audit import AuditRecord
from kubeward.schemas.feed import FeedEvent
from kubeward.schemas.http_traffic import (
    HttpEntityCreate,
    HttpTrafficBatch,
    HttpTrafficIn,
    HttpTrafficQuery,
)
from kubeward.schemas.inventory import (
    InventoryBatch,
    InventoryQuery,
    MarkDead,
    PodDetail,
    PodSyscalls,
    SvcDetail,
)
from kubeward.schemas.mirror import MirrorCommand
from kubeward.schemas.network import (
    DropQueries,
    DropQuery,
    ImpactQuery,
    PolicyAuditRequest,
    PolicySuggestQuery,
    SeccompQuery,
)
from kubeward.schemas.pod_failures import (
    DiagnoseJob,
    FailureCommand,
    FailureQuery,
    FailureReportBatch,
    PodFailureReport,
)
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import (
    FindingBatch,
    FindingQuery,
    ManifestBatch,
    SecurityCommand,
    SecurityFindingIn,
)
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficQuery

Encoding = Literal["json", "msgpack", "bytes"]
"""How a subject's body is encoded: JSON, msgpack, or bytes passed on untouched."""


class StreamSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A JetStream stream the services rely on."""

    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_seconds: float = 0.0
    """0 keeps messages until limits are hit."""
    max_bytes: int = -1
    duplicate_window_seconds: float = 120.0
    public: bool = False


class SubjectSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One subject (or subject pattern) with who publishes it and what it carries."""

    subject: str
    stream: str | None
    """``None`` for core-NATS request/reply subjects."""
    publisher: str
    consumer: str
    payload: Any
    """The body's type as the consumer decodes it: a Struct, a tagged union of Structs, or
    (for bodies without a Struct) ``dict[str, Any]``, ``Any``; ``None`` for an empty body.
    The AsyncAPI document embeds its JSON Schema."""
    encoding: Encoding = "json"
    many: bool = False
    """The body may also be a JSON array of ``payload`` (handled as one message)."""
    reply: Any = None
    """Request/reply subjects: the reply's type (``Reply``, or ``str`` for plain text)."""
    note: str = ""
    """What the types do not say (e.g. where a subject token comes from)."""
    description: str

    def __post_init__(self) -> None:
        for kind in (self.payload, self.reply):
            if isinstance(kind, str):
                raise TypeError(
                    f"{self.subject}: payload and reply are types (a Struct), not text: {kind!r}"
                )


# --- Streams ------------------------------------------------------------------

COLLECT = StreamSpec(
    name="COLLECT",
    subjects=("kubeward.collect.>",),
    description="Raw collector input (JSON). Public contract.",
    max_age_seconds=7 * 24 * 3600,
    public=True,
)
TRAFFIC = StreamSpec(
    name="TRAFFIC",
    subjects=("kubeward.traffic.>",),
    description="Validated, normalised traffic batches from ingest to traffic-store.",
    max_age_seconds=7 * 24 * 3600,
)
DEADLETTER = StreamSpec(
    name="DEADLETTER",
    subjects=("kubeward.deadletter.>",),
    description="Input nobody could accept: original bytes plus the reason in headers.",
    max_age_seconds=30 * 24 * 3600,
)
FEED = StreamSpec(
    name="FEED",
    subjects=("kubeward.feed.>",),
    description='Domain events for the WebSocket feed: {"type": ..., "data": ...}. Public.',
    max_age_seconds=24 * 3600,
    # One pod_traffic event per new flow can add up: past 1 GiB the oldest go first.
    max_bytes=1 << 30,
    public=True,
)

AUDIT = StreamSpec(
    name="AUDIT",
    subjects=("kubeward.audit.>",),
    description="Who changed what, when: one AuditRecord (JSON) per admin change.",
    max_age_seconds=365 * 24 * 3600,
)

FAILURES = StreamSpec(
    name="FAILURES",
    subjects=("kubeward.failures.>",),
    description="Validated failed-pod reports from ingest, and LLM diagnosis jobs, for "
    "failure-analyzer.",
    max_age_seconds=7 * 24 * 3600,
)

SECURITY = StreamSpec(
    name="SECURITY",
    subjects=("kubeward.security.>",),
    description="Validated scanner findings and workload manifests from ingest, for security.",
    max_age_seconds=7 * 24 * 3600,
)

STREAMS: tuple[StreamSpec, ...] = (
    COLLECT,
    TRAFFIC,
    FAILURES,
    SECURITY,
    DEADLETTER,
    FEED,
    AUDIT,
)

# --- Key-Value buckets --------------------------------------------------------

SETTINGS_BUCKET = "kubeward-settings"
"""Admin settings (JSON values, secrets encrypted), watched live by every service.
JetStream keeps it in stream ``KV_kubeward-settings``; the store is
``kubeward.core.app_settings``, the keys ``kubeward.schemas.settings``."""

# --- Collector subjects (public) ----------------------------------------------

COLLECT_POD_TRAFFIC = "kubeward.collect.pod-traffic"
COLLECT_HTTP_TRAFFIC_PREFIX = "kubeward.collect.http-traffic."
COLLECT_HTTP_TRAFFIC = COLLECT_HTTP_TRAFFIC_PREFIX + "*"
COLLECT_POD_FAILURES = "kubeward.collect.pod-failures"
COLLECT_SECURITY_FINDINGS = "kubeward.collect.security-findings"
COLLECT_MANIFESTS = "kubeward.collect.manifests"
COLLECT_POD_SPEC = "kubeward.collect.pod-spec"
COLLECT_SVC_SPEC = "kubeward.collect.svc-spec"
COLLECT_POD_DEAD = "kubeward.collect.pod-dead"
COLLECT_POD_SYSCALLS = "kubeward.collect.pod-syscalls"
COLLECT_HTTP_LOG = "kubeward.collect.http-log"

# --- Internal stream subjects -------------------------------------------------

TRAFFIC_POD = "kubeward.traffic.pod"
TRAFFIC_HTTP = "kubeward.traffic.http"
FAILURES_REPORT = "kubeward.failures.report"
FAILURES_DIAGNOSE = "kubeward.failures.diagnose"
SECURITY_FINDINGS = "kubeward.security.findings"
SECURITY_MANIFESTS = "kubeward.security.manifests"
DEADLETTER_PREFIX = "kubeward.deadletter."
FEED_PREFIX = "kubeward.feed."
AUDIT_PREFIX = "kubeward.audit."
TRAFFIC_INVENTORY = "kubeward.traffic.inventory"
TRAFFIC_HTTP_LOG = "kubeward.traffic.http-log"

# --- Request/reply (core NATS) ------------------------------------------------

RPC_POD_TRAFFIC_LIST = "kubeward.rpc.traffic-store.pod-traffic.list"
RPC_HTTP_ENTITY_CREATE = "kubeward.rpc.traffic-store.http.create"
RPC_HTTP_TRAFFIC_LIST = "kubeward.rpc.traffic-store.http-traffic.list"
RPC_INGEST_METRICS = "kubeward.rpc.ingest.metrics"
RPC_FAILURES_LIST = "kubeward.rpc.failure-analyzer.list"
RPC_FAILURES_COMMAND = "kubeward.rpc.failure-analyzer.command"
RPC_SECURITY_LIST = "kubeward.rpc.security.list"
RPC_SECURITY_COMMAND = "kubeward.rpc.security.command"
RPC_MIRROR_COMMAND = "kubeward.rpc.mirror.command"
RPC_HEALTH_PREFIX = "kubeward.rpc.health."
METRICS_SERVICES: tuple[str, ...] = ("ingest", "failure-analyzer", "security")
"""Services whose Prometheus counters the gateway's ``/metrics`` relays (see
:func:`metrics_subject`)."""
RPC_INVENTORY = "kubeward.rpc.traffic-store.inventory"
RPC_ARKYN = "kubeward.rpc.traffic-store.arkyn"
RPC_NETWORK_POLICY = "kubeward.rpc.traffic-store.network.policy"
RPC_NETWORK_AUDIT = "kubeward.rpc.traffic-store.network.audit"
RPC_SECCOMP = "kubeward.rpc.traffic-store.seccomp"
RPC_NETWORK_DROPS = "kubeward.rpc.traffic-store.network.drops"
RPC_NETWORK_DROPS_MANY = "kubeward.rpc.traffic-store.network.drops-many"
RPC_NETWORK_IMPACT = "kubeward.rpc.traffic-store.network.impact"

# --- Durable consumers --------------------------------------------------------

CONSUMER_INGEST = "ingest"
CONSUMER_TRAFFIC_STORE = "traffic-store"
CONSUMER_FAILURE_ANALYZER = "failure-analyzer"
CONSUMER_SECURITY = "security"

# --- Headers ------------------------------------------------------------------

HDR_MSG_ID = "Nats-Msg-Id"
HDR_REPLY_TO = "Kubeward-Reply-To"
"""Set by the gateway on HTTP-originated collect messages: where the outcome is sent."""
HDR_REASON = "Kubeward-Reason"
HDR_ORIGIN_SUBJECT = "Kubeward-Origin-Subject"
HDR_ORIGIN_SEQ = "Kubeward-Origin-Seq"
HDR_STAGE = "Kubeward-Stage"
HDR_PART = "Kubeward-Part"
HDR_PARTS = "Kubeward-Parts"
HDR_STATUS = "Kubeward-Status"
HDR_TRUNCATED = "Kubeward-Truncated"


def deadletter_subject(stage: str) -> str:
    """Dead-letter subject for records rejected at ``stage`` (e.g. ``ingest``)."""
    return DEADLETTER_PREFIX + stage


def metrics_subject(service: str) -> str:
    """Request/reply subject on which ``service`` answers its Prometheus text
    (``kubeward.rpc.<service>.metrics``; ingest's is :data:`RPC_INGEST_METRICS`)."""
    return f"kubeward.rpc.{service}.metrics"


def feed_subject(event_type: str) -> str:
    """Feed subject for a WebSocket message type."""
    return FEED_PREFIX + event_type


def audit_subject(area: str) -> str:
    """Audit subject for changes in ``area`` (e.g. ``settings``, ``users``)."""
    return AUDIT_PREFIX + area


SUBJECTS: tuple[SubjectSpec, ...] = (
    SubjectSpec(
        subject=COLLECT_POD_TRAFFIC,
        stream=COLLECT.name,
        publisher="collectors, gateway",
        consumer="ingest",
        payload=PodTrafficEvent,
        many=True,
        description="kguardian traffic events.",
    ),
    SubjectSpec(
        subject=COLLECT_HTTP_TRAFFIC,
        stream=COLLECT.name,
        publisher="collectors, gateway",
        consumer="ingest",
        payload=HttpTrafficIn,
        note="The last token is the trafficSourceId.",
        description="arkyn HttpTraffic bodies.",
    ),
    SubjectSpec(
        subject=COLLECT_POD_FAILURES,
        stream=COLLECT.name,
        publisher="collectors",
        consumer="ingest",
        payload=PodFailureReport,
        description="Kure failed-pod reports; validated by ingest, stored and diagnosed "
        "by failure-analyzer.",
    ),
    SubjectSpec(
        subject=COLLECT_SECURITY_FINDINGS,
        stream=COLLECT.name,
        publisher="collectors",
        consumer="ingest",
        payload=SecurityFindingIn,
        many=True,
        description="Kure scanner findings; validated by ingest, stored by security.",
    ),
    SubjectSpec(
        subject=COLLECT_MANIFESTS,
        stream=COLLECT.name,
        publisher="agents that send workloads",
        consumer="ingest",
        payload=dict[str, Any],
        many=True,
        note="A Kubernetes object with kind and metadata.name, or a List of them.",
        description="Workload manifests for the built-in scanner.",
    ),
    SubjectSpec(
        subject=TRAFFIC_POD,
        stream=TRAFFIC.name,
        publisher="ingest",
        consumer="traffic-store",
        payload=PodTrafficBatch,
        encoding="msgpack",
        description="Validated pod traffic grouped by origin collect message.",
    ),
    SubjectSpec(
        subject=TRAFFIC_HTTP,
        stream=TRAFFIC.name,
        publisher="ingest",
        consumer="traffic-store",
        payload=HttpTrafficBatch,
        encoding="msgpack",
        description="Validated arkyn HttpTraffic records.",
    ),
    SubjectSpec(
        subject=FAILURES_REPORT,
        stream=FAILURES.name,
        publisher="ingest",
        consumer="failure-analyzer, security",
        payload=FailureReportBatch,
        encoding="msgpack",
        description="Validated failed-pod reports, each with its origin sequence; security "
        "scans their manifests.",
    ),
    SubjectSpec(
        subject=FAILURES_DIAGNOSE,
        stream=FAILURES.name,
        publisher="failure-analyzer",
        consumer="failure-analyzer",
        payload=DiagnoseJob,
        encoding="msgpack",
        description="Ask the configured LLM about a stored failure (after the offline diagnosis).",
    ),
    SubjectSpec(
        subject=SECURITY_FINDINGS,
        stream=SECURITY.name,
        publisher="ingest",
        consumer="security",
        payload=FindingBatch,
        encoding="msgpack",
        description="Validated scanner findings with their origin sequence.",
    ),
    SubjectSpec(
        subject=SECURITY_MANIFESTS,
        stream=SECURITY.name,
        publisher="ingest",
        consumer="security",
        payload=ManifestBatch,
        encoding="msgpack",
        description="Workload objects to scan (failed pods' manifests come from FAILURES).",
    ),
    SubjectSpec(
        subject=DEADLETTER_PREFIX + "<stage>",
        stream=DEADLETTER.name,
        publisher="ingest, traffic-store, failure-analyzer, security",
        consumer="operators",
        payload=Any,
        encoding="bytes",
        note="The original bytes; reason and origin in the Kubeward-* headers.",
        description="Rejected input with the reason.",
    ),
    SubjectSpec(
        subject=FEED_PREFIX + "<type>",
        stream=FEED.name,
        publisher="domain services",
        consumer="gateway",
        payload=FeedEvent,
        description="WebSocket feed events.",
    ),
    SubjectSpec(
        subject=AUDIT_PREFIX + "<area>",
        stream=AUDIT.name,
        publisher="gateway, any service changing admin settings",
        consumer="gateway (admin audit log)",
        payload=AuditRecord,
        note="details holds no secret in clear.",
        description="Audit trail of admin changes; area is e.g. settings.",
    ),
    SubjectSpec(
        subject=RPC_POD_TRAFFIC_LIST,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=PodTrafficQuery,
        reply=Reply,
        note="The reply body is a JSON array of rows; a large reply comes in parts.",
        description="Query stored pod traffic.",
    ),
    SubjectSpec(
        subject=RPC_HTTP_ENTITY_CREATE,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=HttpEntityCreate,
        reply=Reply,
        note="Replies 201 with the entity, 400, 404, 409.",
        description="Create arkyn entities (source, domain, pathname, request, response).",
    ),
    SubjectSpec(
        subject=RPC_HTTP_TRAFFIC_LIST,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=HttpTrafficQuery,
        reply=Reply,
        note='The reply body is {"data": [...], "meta": {...}}, with a cursor; in parts.',
        description="Query stored HTTP traffic of one source.",
    ),
    SubjectSpec(
        subject=RPC_INGEST_METRICS,
        stream=None,
        publisher="gateway",
        consumer="ingest",
        payload=None,
        reply=str,
        note="The reply is Prometheus text.",
        description="Ingest counters for the gateway's /metrics.",
    ),
    SubjectSpec(
        subject=RPC_FAILURES_LIST,
        stream=None,
        publisher="gateway",
        consumer="failure-analyzer",
        payload=FailureQuery,
        reply=Reply,
        note="The reply body is a JSON array of PodFailure, with a cursor; in parts.",
        description="List failed pods (active, history or ignored).",
    ),
    SubjectSpec(
        subject=RPC_FAILURES_COMMAND,
        stream=None,
        publisher="gateway",
        consumer="failure-analyzer",
        payload=FailureCommand,
        reply=Reply,
        description="Change a failure: status, dismiss, restore, retry the solution, "
        "dismiss a deleted pod.",
    ),
    SubjectSpec(
        subject=RPC_SECURITY_LIST,
        stream=None,
        publisher="gateway",
        consumer="security",
        payload=FindingQuery,
        reply=Reply,
        note="The reply body is a JSON array of SecurityFinding, with a cursor.",
        description="List findings with filters.",
    ),
    SubjectSpec(
        subject=RPC_SECURITY_COMMAND,
        stream=None,
        publisher="gateway",
        consumer="security",
        payload=SecurityCommand,
        reply=Reply,
        description="Dismiss, restore, fix, clear, delete a resource's findings, rescan "
        "status, scan duration, trusted registries, ad-hoc scan.",
    ),
    SubjectSpec(
        subject=RPC_MIRROR_COMMAND,
        stream=None,
        publisher="gateway",
        consumer="mirror",
        payload=MirrorCommand,
        reply=Reply,
        description="Mirror pods: preview a fix, deploy, status, delete, list active.",
    ),
    SubjectSpec(
        subject=RPC_HEALTH_PREFIX + "<service>",
        stream=None,
        publisher="gateway",
        consumer="ingest, traffic-store, failure-analyzer, security, mirror",
        payload=None,
        reply=dict[str, Any],
        note='The reply is a HealthReport: {"status": "ok" | "degraded" | "unhealthy", '
        '"service": ..., "checks": {name: bool}}.',
        description="A service's health for the gateway's /api/config.",
    ),
    SubjectSpec(
        subject=metrics_subject("<service>"),
        stream=None,
        publisher="gateway",
        consumer=", ".join(METRICS_SERVICES),
        payload=None,
        reply=str,
        note="The reply is Prometheus text.",
        description="A service's counters (kubeward_* and Kure's kure_*) for the gateway's "
        "/metrics; each is asked concurrently with a timeout.",
    ),
    SubjectSpec(
        subject=COLLECT_POD_SPEC,
        stream=COLLECT.name,
        publisher="kguardian controllers, gateway (POST /pod/spec)",
        consumer="ingest",
        payload=PodDetail,
        many=True,
        note="kguardian broker/src/types.rs.",
        description="A pod's spec, IP and node; kept with its IP history by traffic-store.",
    ),
    SubjectSpec(
        subject=COLLECT_SVC_SPEC,
        stream=COLLECT.name,
        publisher="kguardian controllers, gateway (POST /svc/spec)",
        consumer="ingest",
        payload=SvcDetail,
        many=True,
        description="A Service keyed by its cluster IP.",
    ),
    SubjectSpec(
        subject=COLLECT_POD_DEAD,
        stream=COLLECT.name,
        publisher="kguardian controllers, gateway (POST /pod/mark_dead)",
        consumer="ingest",
        payload=MarkDead,
        many=True,
        description="A pod is gone: marked dead, its IPs released.",
    ),
    SubjectSpec(
        subject=COLLECT_POD_SYSCALLS,
        stream=COLLECT.name,
        publisher="kguardian controllers, gateway (POST /pod/syscalls)",
        consumer="ingest",
        payload=PodSyscalls,
        many=True,
        description="Syscalls a pod made (replaces the pod's stored set).",
    ),
    SubjectSpec(
        subject=TRAFFIC_INVENTORY,
        stream=TRAFFIC.name,
        publisher="ingest",
        consumer="traffic-store",
        payload=InventoryBatch,
        encoding="msgpack",
        description="Validated pod/service inventory records grouped by origin message.",
    ),
    SubjectSpec(
        subject=RPC_INVENTORY,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=InventoryQuery,
        reply=Reply,
        note="The reply body has kguardian's shape; 404 when none.",
        description="Read the pod/service inventory: lists, by name, by IP (at a time), "
        "by node, syscalls.",
    ),
    SubjectSpec(
        subject=COLLECT_HTTP_LOG,
        stream=COLLECT.name,
        publisher="collectors, gateway (POST /ingest-log)",
        consumer="ingest",
        payload=ArkynLogIn,
        note="@arkyn/server's logRequest body.",
        description="arkyn collector logs: one transaction with its domain, pathname, "
        "request and response; a Nats-Msg-Id of the body digest makes a retry a no-op.",
    ),
    SubjectSpec(
        subject=TRAFFIC_HTTP_LOG,
        stream=TRAFFIC.name,
        publisher="ingest",
        consumer="traffic-store",
        payload=HttpLogBatch,
        encoding="msgpack",
        description="Validated arkyn collector logs, composed into entities by traffic-store.",
    ),
    SubjectSpec(
        subject=RPC_ARKYN,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=ArkynCommand,
        reply=Reply,
        description="arkyn's plural routes: list, get, create, update, delete.",
    ),
    SubjectSpec(
        subject=RPC_NETWORK_POLICY,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=PolicySuggestQuery,
        reply=Reply,
        note='The reply body is {"policies", "flows_used", "unresolved"}.',
        description="Least-privilege NetworkPolicies (or CiliumNetworkPolicies) of a "
        "namespace's workloads from their observed ALLOW flows.",
    ),
    SubjectSpec(
        subject=RPC_NETWORK_AUDIT,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=PolicyAuditRequest,
        reply=Reply,
        note='The reply body is {"evaluated", "would_allow", "would_deny"}.',
        description="The observed flows a set of policies would block.",
    ),
    SubjectSpec(
        subject=RPC_SECCOMP,
        stream=None,
        publisher="gateway",
        consumer="traffic-store",
        payload=SeccompQuery,
        reply=Reply,
        note="The reply body is an OCI seccomp profile; 404 when none was observed.",
        description="A seccomp profile from the syscalls a pod was seen making.",
    ),
    SubjectSpec(
        subject=RPC_NETWORK_DROPS,
        stream=None,
        publisher="failure-analyzer",
        consumer="traffic-store",
        payload=DropQuery,
        reply=Reply,
        note="The reply body is a DropReport.",
        description="DROP flows around a failed pod (its own, its workload's, at the other "
        "end, to addresses its logs name), per peer, with a NetworkPolicy that would allow "
        "them; asked with a short timeout, the diagnosis goes on without it.",
    ),
    SubjectSpec(
        subject=RPC_NETWORK_DROPS_MANY,
        stream=None,
        publisher="failure-analyzer",
        consumer="traffic-store",
        payload=DropQueries,
        reply=Reply,
        note="The reply body is a DropReports (one DropReport per query, in order).",
        description="RPC_NETWORK_DROPS for every report of a fetched batch at once: one "
        "request, one read of the DROP span and of the pods' inventory entries.",
    ),
    SubjectSpec(
        subject=RPC_NETWORK_IMPACT,
        stream=None,
        publisher="gateway, failure-analyzer",
        consumer="traffic-store",
        payload=ImpactQuery,
        reply=Reply,
        note="The reply body is an ImpactReport.",
        description="The workloads that called a pod (or its Services) in a window, with "
        "connection and DROP counts.",
    ),
)
