"""Security findings: the Kure scanner's finding, the stored record, manifests to scan, and
the security service's bus bodies.

A finding is identified by what it is about and which check raised it
(:func:`finding_key`): the same finding reported again updates its record.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
FindingSource = Literal["scanner", "builtin"]
"""``scanner``: reported by an external scanner; ``builtin``: kubeward's own manifest scanner."""

NAME_REQUIRED = "Resource name and namespace are required"
CLUSTER_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
    }
)
"""Kinds without a namespace: their findings are filed under :data:`CLUSTER_SCOPE`."""
CLUSTER_SCOPE = "_cluster"
"""The ``namespace`` of findings about cluster-scoped resources (ClusterRoles, Namespaces)
when a scanner sends none."""


class SecurityFindingIn(msgspec.Struct, kw_only=True):
    """A finding as a scanner reports it (Kure's current and older field names both)."""

    resource_type: str = ""
    resource_name: str = ""
    namespace: str = ""
    check_name: str | None = None
    severity: str = "medium"
    message: str | None = None
    remediation: str | None = None
    details: dict[str, Any] | None = None
    # Kure's older scanner fields:
    title: str | None = None
    description: str | None = None
    category: str | None = None
    timestamp: str | None = None
    manifest: str | None = None


class SecurityFinding(msgspec.Struct, kw_only=True):
    """A stored finding, as the API returns it."""

    id: int
    resource_type: str
    resource_name: str
    namespace: str
    check_name: str
    severity: Severity
    message: str
    remediation: str
    details: dict[str, Any] = {}
    title: str
    description: str
    category: str = "Security"
    source: FindingSource = "scanner"
    json_path: str | None = None
    """Where in the manifest the check looked (built-in scanner)."""
    timestamp: str
    first_seen: str
    last_seen: str
    dismissed: bool = False


class Manifest(msgspec.Struct, kw_only=True):
    """A manifest for the built-in scanner: YAML or JSON text, one or more objects."""

    manifest: str
    source: str = "api"
    """Where it came from: ``api`` (ad-hoc scan), ``agent`` (kubeward.collect.manifests),
    ``pod-failure`` (a failed pod's manifest)."""


FINDING_FACETS = (
    "resource_name",
    "check_name",
    "namespace",
    "severity",
    "resource_type",
    "rule_keys",
)
"""The stored fields a finding is indexed under as facets (``kubeward.core.facets``): the
list filters, most selective first (a list reads by the first one it filters on), and the
rule keys an exclusion purges by."""


def finding_key(
    resource_type: str, namespace: str, resource_name: str, check: str, details: dict[str, Any]
) -> str:
    """What makes two reports the same finding: the resource, the check and the part of the
    resource it is about (container, rule index, ...)."""
    part = details.get("container") or details.get("field") or details.get("path") or ""
    return f"{resource_type}/{namespace}/{resource_name}/{check}/{part}"


# --- Internal bus bodies -------------------------------------------------------------


class FindingEnvelope(msgspec.Struct, kw_only=True):
    """A validated scanner finding from ingest (msgpack)."""

    origin_seq: int
    index: int = 0
    reply_to: str | None = None
    finding: SecurityFindingIn


class FindingBatch(msgspec.Struct, kw_only=True):
    """One ``kubeward.security.findings`` message."""

    findings: list[FindingEnvelope]


class ManifestEnvelope(msgspec.Struct, kw_only=True):
    """Workload objects for the built-in scanner, validated by ingest (msgpack)."""

    origin_seq: int
    reply_to: str | None = None
    objects: list[dict[str, Any]]
    source: str = "agent"


class ManifestBatch(msgspec.Struct, kw_only=True):
    """One ``kubeward.security.manifests`` message."""

    manifests: list[ManifestEnvelope]


class FindingQuery(msgspec.Struct, kw_only=True):
    """``GET /api/security/findings`` filters."""

    severity: str | None = None
    namespace: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None
    check: str | None = None
    dismissed: bool | None = False
    """``False``: active findings (the default), ``True``: dismissed ones, ``None``: all."""
    limit: int = 5000
    cursor: str | None = None


class DismissFinding(msgspec.Struct, kw_only=True, tag="dismiss", tag_field="action"):
    """``DELETE /api/security/findings/{id}``."""

    id: int


class RestoreFinding(msgspec.Struct, kw_only=True, tag="restore", tag_field="action"):
    """``PUT /api/security/findings/{id}/restore``."""

    id: int


class FixFinding(msgspec.Struct, kw_only=True, tag="fix", tag_field="action"):
    """``POST /api/security/findings/{id}/fix``."""

    id: int


class ClearFindings(msgspec.Struct, kw_only=True, tag="clear", tag_field="action"):
    """``POST /api/security/scan/clear``: the scanner starts a full scan over."""


class DeleteResourceFindings(
    msgspec.Struct, kw_only=True, tag="delete-resource", tag_field="action"
):
    """``DELETE /api/security/findings/resource/{type}/{ns}/{name}``: the resource is gone."""

    resource_type: str
    namespace: str
    resource_name: str


class RescanStatus(msgspec.Struct, kw_only=True, tag="rescan-status", tag_field="action"):
    """``POST /api/security/rescan-status`` from the scanner."""

    status: Literal["started", "completed"]
    reason: str | None = None


class ScanDuration(msgspec.Struct, kw_only=True, tag="scan-duration", tag_field="action"):
    """``POST /api/metrics/security-scan-duration`` from the scanner."""

    duration_seconds: float


class ListRegistries(msgspec.Struct, kw_only=True, tag="registries", tag_field="action"):
    """``GET /api/security/trusted-registries``."""


class AddRegistry(msgspec.Struct, kw_only=True, tag="add-registry", tag_field="action"):
    """``POST /api/security/trusted-registries``."""

    registry: str
    actor: str = "api"


class RemoveRegistry(msgspec.Struct, kw_only=True, tag="remove-registry", tag_field="action"):
    """``DELETE /api/security/trusted-registries/{registry}``."""

    registry: str
    actor: str = "api"


class ScanManifest(msgspec.Struct, kw_only=True, tag="scan", tag_field="action"):
    """Ad-hoc scan of a manifest (YAML or JSON text); findings are answered, not stored."""

    manifest: str


class FindingManifest(msgspec.Struct, kw_only=True, tag="manifest", tag_field="action"):
    """``GET /api/security/findings/{id}/manifest``: the finding's resource manifest."""

    id: int


class RequestRescan(msgspec.Struct, kw_only=True, tag="rescan", tag_field="action"):
    """``POST /api/security/rescan``: ask every scanner for a full scan."""

    actor: str = "api"


class PurgeRule(msgspec.Struct, kw_only=True, tag="purge-rule", tag_field="action"):
    """A check was suppressed (``/api/admin/excluded-rules``): delete its findings, in
    ``namespace`` or everywhere when it is empty."""

    rule_title: str
    namespace: str = ""


class RuleTitles(msgspec.Struct, kw_only=True, tag="rule-titles", tag_field="action"):
    """``GET /api/admin/rule-titles``: the titles of the checks (seen in ``namespace``)."""

    namespace: str | None = None


class FindingNamespaces(msgspec.Struct, kw_only=True, tag="namespaces", tag_field="action"):
    """The namespaces findings were raised in (``GET /api/admin/namespaces``)."""


SecurityCommand = (
    DismissFinding
    | RestoreFinding
    | FixFinding
    | ClearFindings
    | DeleteResourceFindings
    | RescanStatus
    | ScanDuration
    | ListRegistries
    | AddRegistry
    | RemoveRegistry
    | ScanManifest
    | FindingManifest
    | RequestRescan
    | PurgeRule
    | RuleTitles
    | FindingNamespaces
)
