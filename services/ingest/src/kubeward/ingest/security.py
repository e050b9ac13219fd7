"""Security input in ingest: scanner findings (``kubeward.collect.security-findings``) and
workload manifests for the built-in scanner (``kubeward.collect.manifests``).

A finding without resource name or namespace gets Kure's own 400 detail, ``Resource name
and namespace are required`` (a cluster-scoped resource's finding may leave the namespace
empty when it names a cluster-scoped kind, filed under ``_cluster``: see
:data:`CLUSTER_KINDS`). Manifests must be JSON objects with ``kind`` and ``metadata.name``
(a ``List`` is flattened); their YAML form is for the ad-hoc scan endpoint.
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.msg import Msg

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, parse_records
from kubeward.schemas import bus
from kubeward.schemas.security import (
    CLUSTER_KINDS,
    CLUSTER_SCOPE,
    NAME_REQUIRED,
    SEVERITIES,
    FindingBatch,
    FindingEnvelope,
    ManifestBatch,
    ManifestEnvelope,
    SecurityFindingIn,
)

MAX_OBJECTS = 500

_finding = msgspec.json.Decoder(SecurityFindingIn)
_object = msgspec.json.Decoder(dict[str, Any])


def normalise_finding(finding: SecurityFindingIn) -> SecurityFindingIn:
    """Check what the schema cannot express; ``ValueError`` naming the problem."""
    finding.resource_name = finding.resource_name.strip()
    finding.namespace = finding.namespace.strip()
    finding.resource_type = finding.resource_type.strip() or "Unknown"
    if not finding.namespace and finding.resource_type in CLUSTER_KINDS:
        finding.namespace = CLUSTER_SCOPE
    if not finding.resource_name or not finding.namespace:
        raise ValueError(NAME_REQUIRED)
    severity = finding.severity.strip().lower()
    if severity not in SEVERITIES:
        raise ValueError(f"severity: {finding.severity!r} is not one of {', '.join(SEVERITIES)}")
    finding.severity = severity
    if not (finding.check_name or finding.title):
        raise ValueError("check_name (or title) is required")
    return finding


def decode_finding(data: bytes | msgspec.Raw) -> SecurityFindingIn:
    """Decode and check one finding; ``ValueError`` naming the field."""
    try:
        return normalise_finding(_finding.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$.", "`").replace("`$`", "body")) from None


def check_object(obj: dict[str, Any], where: str = "") -> dict[str, Any]:
    """A Kubernetes object needs a ``kind`` and a ``metadata.name``; ``ValueError`` otherwise."""
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{where}kind is required")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}metadata.name is required")
    return obj


def decode_objects(data: bytes) -> list[dict[str, Any]]:
    """One object, a ``List`` or an array of objects; ``ValueError`` naming the bad one."""
    try:
        decoded = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    items: list[Any]
    if isinstance(decoded, list):
        items = decoded
    elif isinstance(decoded, dict) and str(decoded.get("kind", "")).endswith("List"):
        items = decoded.get("items") or []
    else:
        items = [decoded]
    if len(items) > MAX_OBJECTS:
        raise ValueError(f"{len(items)} objects; the limit is {MAX_OBJECTS}")
    objects = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"[{index}] is not an object")
        objects.append(check_object(item, f"[{index}] " if len(items) > 1 else ""))
    return objects


class SecurityFindingRouter(CollectRouter[SecurityFindingIn, list[FindingEnvelope]]):
    """Batch handler for ``kubeward.collect.security-findings``."""

    kind = "security-findings"
    label = "security finding"
    subject = bus.SECURITY_FINDINGS
    payload = SecurityFindingIn

    def detail(self, reasons: str) -> str:
        """Kure's exact detail for a nameless finding; otherwise name the field."""
        return reasons if reasons == NAME_REQUIRED else super().detail(reasons)

    def parse(self, msg: Msg) -> tuple[list[SecurityFindingIn], list[Reject]]:
        """One finding or an array of them."""
        return parse_records(msg.data, decode_finding)

    def group(
        self, msg: Msg, reply_to: str | None, records: list[SecurityFindingIn]
    ) -> list[FindingEnvelope]:
        """One envelope per finding, with where it came from and who waits for it."""
        seq = stream_seq(msg)
        return [
            FindingEnvelope(origin_seq=seq, index=i, reply_to=reply_to, finding=f)
            for i, f in enumerate(records)
        ]

    def batch(self, groups: list[list[FindingEnvelope]]) -> FindingBatch:
        """One ``kubeward.security.findings`` message."""
        return FindingBatch(findings=[e for group in groups for e in group])

    def origin_seq(self, group: list[FindingEnvelope]) -> int:
        """The group's collect sequence."""
        return group[0].origin_seq if group else 0


class ManifestRouter(CollectRouter[dict[str, Any], ManifestEnvelope]):
    """Batch handler for ``kubeward.collect.manifests``: all objects of a message or none."""

    kind = "manifests"
    label = "manifest"
    subject = bus.SECURITY_MANIFESTS
    payload = dict[str, Any]

    def parse(self, msg: Msg) -> tuple[list[dict[str, Any]], list[Reject]]:
        """Every object of the message; one bad object rejects the message whole."""
        return decode_objects(msg.data), []

    def group(
        self, msg: Msg, reply_to: str | None, records: list[dict[str, Any]]
    ) -> ManifestEnvelope:
        """The message's objects together (a workload and its Service scan as one)."""
        return ManifestEnvelope(origin_seq=stream_seq(msg), reply_to=reply_to, objects=records)

    def batch(self, groups: list[ManifestEnvelope]) -> ManifestBatch:
        """One ``kubeward.security.manifests`` message."""
        return ManifestBatch(manifests=groups)

    def origin_seq(self, group: ManifestEnvelope) -> int:
        """The group's collect sequence."""
        return group.origin_seq
