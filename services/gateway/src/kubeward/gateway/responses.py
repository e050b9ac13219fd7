"""Response bodies the gateway declares in its OpenAPI document.

Most routes relay a service's reply as raw JSON bytes
(:func:`~kubeward.gateway.errors.json_reply`), so Litestar cannot read their body type from
the handler. :func:`declare` states it: the Struct the service encodes the body from
(``PodFailure``, ``SecurityFinding``, ...), or one of the small Structs below that spell
out an ad-hoc body field for field. The wire is not touched; the gateway's test fixtures
check every 2xx JSON body the app sends against its declaration
(:mod:`kubeward.devstack.openapi_responses`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from kubeward.schemas.http_traffic import PageMeta
from kubeward.schemas.network import ImpactReport
from kubeward.schemas.pod_failures import SolutionSource
from kubeward.schemas.security import Severity


def declare(kind: Any, description: str, status: int = 200) -> dict[int, ResponseSpec]:
    """``responses=`` of a route whose ``status`` answer's body is a ``kind``."""
    return {
        status: ResponseSpec(data_container=kind, description=description, generate_examples=False)
    }


class FailureImpact(ImpactReport, kw_only=True):
    """``GET /api/pods/failed/{id}/impact``: traffic-store's report with the failure's id
    and the window around it."""

    id: int
    minutes_before: int
    minutes_after: int


class MessageOut(msgspec.Struct, kw_only=True):
    """``{"message": ...}``: what a change that returns nothing else answers."""

    message: str


class ExcludedReport(msgspec.Struct, kw_only=True):
    """A failed-pod report that an exclusion (namespace or pod pattern) dropped."""

    excluded: bool
    """Always ``true``."""
    reason: str
    """Which exclusion matched."""


class DismissedDeleted(msgspec.Struct, kw_only=True):
    """``POST /api/pods/dismiss-deleted``: how many open failures were resolved (0 or 1)."""

    message: str
    resolved: int


class CountedMessage(msgspec.Struct, kw_only=True):
    """``{"message", "count"}``: a bulk change and how many records it touched."""

    message: str
    count: int


class TrustedRegistries(msgspec.Struct, kw_only=True):
    """The trusted registries: the admin's list and the built-in defaults."""

    registries: list[str]
    defaults: list[str]


class RegistryChange(msgspec.Struct, kw_only=True):
    """A trusted registry added, removed or already there (normalised)."""

    message: str
    registry: str


class FindingManifestView(msgspec.Struct, kw_only=True):
    """A finding's resource manifest, as Kure's manifest viewer reads it."""

    id: int
    manifest: str
    """The scanner's YAML without what the cluster assigned; ``""`` when none is known."""
    resource_type: str
    resource_name: str
    namespace: str
    title: str
    description: str
    remediation: str
    severity: Severity


class TrustedRegistryRow(msgspec.Struct, kw_only=True):
    """One registry an admin trusted, as Kure's ``/api/admin/trusted-registries`` lists it."""

    registry: str
    created_at: str | None
    """Always ``null`` here (Kure's dashboard shows no date for these)."""


class PodManifest(msgspec.Struct, kw_only=True):
    """The manifest of a pod's latest failure record (as the agent sent it)."""

    manifest: str
    pod_name: str
    namespace: str
    kind: str
    """Always ``Pod``."""
    name: str
    id: int
    """The failure record's id."""
    timestamp: str


class Troubleshooting(msgspec.Struct, kw_only=True):
    """Kure's log-aware diagnosis of a failure; a fresh one also says how it was made."""

    solution: str
    generated_at: str | None
    cached: bool
    log_aware: bool
    """Always ``true``."""
    solution_source: SolutionSource = "offline"
    """Absent on a cached answer."""
    llm_error: str | None = None
    """Absent on a cached answer."""
    analyzer: str | None = None
    """Absent on a cached answer."""


class KguardianVersion(msgspec.Struct, kw_only=True):
    """kguardian's ``/version`` shape; kubeward never checks for updates."""

    broker: str
    chart: str
    telemetry_enabled: bool
    latest: str | None
    """Always ``null``."""
    checked_at: str | None
    """Always ``null``."""
    update_available: bool


class HttpTrafficRecord(msgspec.Struct, kw_only=True, rename="camel"):
    """A stored HttpTraffic record, arkyn's shape (``kubeward.schemas.http_traffic.
    HttpTraffic`` field for field; ``elapsedTime`` as one JSON number, where Litestar would
    render ``int | float`` as a ``oneOf`` an integer matches twice)."""

    id: str
    status: int
    method: str
    level: str
    elapsed_time: float
    """Milliseconds, an integer when sent as one."""
    traffic_user_id: str | None
    traffic_source_id: str
    domain_id: str
    pathname_id: str
    request_id: str
    response_id: str
    created_at: str


class HttpTrafficPage(msgspec.Struct, kw_only=True):
    """arkyn's list answer: one page of a source's HttpTraffic records and its paging."""

    data: list[HttpTrafficRecord]
    meta: PageMeta


class MirrorDeleted(msgspec.Struct, kw_only=True):
    """A mirror pod deleted with its record."""

    message: str
    mirror_id: str


class PolicySuggestion(msgspec.Struct, kw_only=True):
    """Least-privilege policies of a namespace's workloads, as objects and as YAML."""

    policies: list[dict[str, Any]]
    """NetworkPolicy (or CiliumNetworkPolicy) objects."""
    yaml: str
    """The same policies as multi-document YAML."""
    flows_used: int
    unresolved: list[dict[str, str]]
    """Peers the flows name that no inventory record resolved."""


class PolicyVerdict(msgspec.Struct, kw_only=True):
    """How many observed flows the policies were judged on, and the ones they would block."""

    evaluated: int
    would_allow: int
    would_deny: list[dict[str, Any]]


class SeccompRule(msgspec.Struct, kw_only=True):
    """One rule of an OCI seccomp profile."""

    names: list[str]
    action: str


class SeccompProfile(msgspec.Struct, kw_only=True, rename="camel"):
    """An OCI seccomp profile: deny by default, allow the syscalls the pod was seen making."""

    default_action: str
    architectures: list[str]
    syscalls: list[SeccompRule]


class DetailOut(msgspec.Struct, kw_only=True):
    """``{"detail": ...}``: what happened, for a change with nothing else to answer."""

    detail: str


class ServicePrincipal(msgspec.Struct, kw_only=True):
    """A caller holding a service token, as ``/api/auth/me`` shows it."""

    username: str
    role: Literal["service", "kguardian-read", "kguardian-ingest"]
    """Never a user's role, so a body is one or the other."""


# --- arkyn's plural routes (arkyn-logs' shapes; createdAt "MM/DD/YYYY at hh:mm:ss") ------


class ArkynMeta(msgspec.Struct, kw_only=True, rename="camel"):
    """The paging block of an arkyn-logs list."""

    page: int
    page_limit: int
    total_items: int


class ArkynSource(msgspec.Struct, kw_only=True, rename="camel"):
    """A traffic source as arkyn-logs answers it."""

    id: str
    name: str
    traffic_domain: str
    """``""`` when none."""
    user_id: str
    """``""`` (kubeward keeps no arkyn user)."""
    created_at: str
    updated_at: str


class ArkynDomain(msgspec.Struct, kw_only=True, rename="camel"):
    """A domain; ``protocol`` lowercase."""

    id: str
    value: str
    protocol: str
    traffic_source_id: str
    created_at: str


class ArkynPathname(msgspec.Struct, kw_only=True, rename="camel"):
    """A pathname of a domain."""

    id: str
    value: str
    domain_id: str
    traffic_source_id: str
    created_at: str


class ArkynTraffic(msgspec.Struct, kw_only=True, rename="camel"):
    """An HttpTraffic record; ``method`` and ``level`` lowercase."""

    id: str
    status: int
    method: str
    level: str
    elapsed_time: float
    """Milliseconds, an integer when sent as one."""
    traffic_user_id: str | None
    traffic_source_id: str
    domain_id: str
    pathname_id: str
    request_id: str
    response_id: str
    created_at: str


class ArkynRequest(msgspec.Struct, kw_only=True, rename="camel"):
    """A recorded request: headers, body and query parameters as JSON texts."""

    id: str
    headers: str
    body: str | None
    query_params: str
    created_at: str


class ArkynResponse(msgspec.Struct, kw_only=True, rename="camel"):
    """A recorded response: headers and body as JSON texts."""

    id: str
    headers: str
    body: str | None
    created_at: str


class ArkynRecordRequest(msgspec.Struct, kw_only=True, rename="camel"):
    """The request part of a composed record (the full body is at ``bodyUrl``)."""

    headers: str
    body_preview: str
    body_url: str
    query_params: str
    created_at: str
    """``""`` when the request is unknown."""


class ArkynRecordResponse(msgspec.Struct, kw_only=True, rename="camel"):
    """The response part of a composed record."""

    headers: str
    body_preview: str
    body_url: str
    created_at: str
    """``""`` when the response is unknown."""


class ArkynRecord(msgspec.Struct, kw_only=True, rename="camel"):
    """A composed record, as arkyn-panel's detail page reads it."""

    id: str
    status: int
    method: str
    level: str
    protocol: str
    elapsed_time: float
    """Milliseconds, an integer when sent as one."""
    traffic_user_id: str | None
    traffic_source_id: str
    domain: str
    """The domain's origin (``https://api.example.com``); ``""`` when unknown."""
    pathname: str
    request: ArkynRecordRequest
    response: ArkynRecordResponse
    created_at: str


class ArkynSourcePage(msgspec.Struct, kw_only=True):
    """A page of traffic sources."""

    data: list[ArkynSource]
    meta: ArkynMeta


class ArkynDomainPage(msgspec.Struct, kw_only=True):
    """A page of domains."""

    data: list[ArkynDomain]
    meta: ArkynMeta


class ArkynPathnamePage(msgspec.Struct, kw_only=True):
    """A page of pathnames."""

    data: list[ArkynPathname]
    meta: ArkynMeta


class ArkynTrafficPage(msgspec.Struct, kw_only=True):
    """A page of HttpTraffic records."""

    data: list[ArkynTraffic]
    meta: ArkynMeta


class ArkynRecordPage(msgspec.Struct, kw_only=True):
    """A page of composed records."""

    data: list[ArkynRecord]
    meta: ArkynMeta


# --- security: the fix and the ad-hoc scan (the security service's answers) ---------------


class FixAnswer(msgspec.Struct, kw_only=True):
    """A fixed manifest for a finding, as Kure answers ``POST .../fix`` (the security
    service's ``FixAnswer``, field for field)."""

    finding_id: int
    original_manifest: str
    fixed_manifest: str
    diff: list[dict[str, str]]
    explanation: str
    is_fallback: bool
    """The check's own remediation: no LLM is configured, or it failed."""
    error: str | None
    """Why the LLM's answer was not used."""


class ScanFinding(msgspec.Struct, kw_only=True):
    """One problem the built-in scanner found in one object (its ``Finding``)."""

    check: str
    title: str
    severity: Severity
    category: str
    message: str
    remediation: str
    json_path: str
    resource_type: str
    resource_name: str
    namespace: str
    details: dict[str, Any]


class ScanResult(msgspec.Struct, kw_only=True):
    """An ad-hoc scan: how many objects were read and what was found (nothing is stored)."""

    scanned: int
    findings: list[ScanFinding]


# --- admin exclusions and settings (Kure's shapes) -----------------------------------------


class ExcludedNamespace(msgspec.Struct, kw_only=True):
    """An excluded namespace pattern, as Kure lists it."""

    namespace: str
    created_at: str | None
    """Always ``null`` here."""


class NamespaceAdded(msgspec.Struct, kw_only=True):
    """A namespace pattern excluded; ``added`` is false when it already was."""

    namespace: str
    added: bool


class NamespaceRemoved(msgspec.Struct, kw_only=True):
    """A namespace pattern included again."""

    namespace: str
    removed: bool


class ExcludedPod(msgspec.Struct, kw_only=True):
    """An excluded pod name pattern, as Kure lists it."""

    pod_name: str
    created_at: str | None
    """Always ``null`` here."""


class PodPatternAdded(msgspec.Struct, kw_only=True):
    """A pod name pattern excluded; ``added`` is false when it already was."""

    pod_name: str
    added: bool


class PodPatternRemoved(msgspec.Struct, kw_only=True):
    """A pod name pattern removed."""

    pod_name: str
    removed: bool


class ExcludedRule(msgspec.Struct, kw_only=True):
    """A suppressed security check, as Kure lists it."""

    rule_title: str
    namespace: str | None
    """``null`` for a global exclusion."""
    created_at: str | None


class SettingValue(msgspec.Struct, kw_only=True):
    """A reference setting and its value, as text."""

    key: str
    value: str
