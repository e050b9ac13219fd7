"""The built-in scanner applied: scan objects, store their manifests and findings, drop the
findings a new scan no longer raises, announce new ones; rescans of everything stored."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.schemas.security import CLUSTER_KINDS, CLUSTER_SCOPE, finding_key
from kubeward.schemas.settings import is_excluded
from kubeward.security import events, metrics
from kubeward.security.admin_settings import excluded_namespaces, excluded_pods, is_suppressed
from kubeward.security.registries import Registries
from kubeward.security.scanner import Finding, scan
from kubeward.security.store import FindingStore, Scanned, rule_keys

log = logging.getLogger(__name__)


def namespace_of(obj: Mapping[str, Any]) -> str:
    """Where a resource's findings are filed."""
    if obj.get("kind") in CLUSTER_KINDS:
        return CLUSTER_SCOPE
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or "default")


def exclusion(app_settings: AppSettings, namespace: str, kind: str, name: str) -> str | None:
    """Why a finding about this resource is suppressed, or ``None``."""
    if namespace != CLUSTER_SCOPE and is_excluded(
        namespace, "", excluded_namespaces(app_settings), ()
    ):
        return "excluded_namespace"
    if kind == "Pod" and is_excluded("", name, (), excluded_pods(app_settings)):
        return "excluded_pod"
    return None


def fields_of(finding: Finding) -> dict[str, Any]:
    """A scanner finding as stored."""
    return {
        "resource_type": finding.resource_type,
        "resource_name": finding.resource_name,
        "namespace": finding.namespace,
        "check_name": finding.check,
        "severity": finding.severity,
        "message": finding.message,
        "remediation": finding.remediation,
        "details": dict(finding.details),
        "title": finding.title,
        "rule_keys": rule_keys(finding.title, finding.check),
        "description": finding.message,
        "category": finding.category,
        "source": "builtin",
        "json_path": finding.json_path,
    }


class BuiltinScanner:
    """Scans objects with the trusted-registry list and exclusions of the moment."""

    def __init__(
        self,
        js: JetStreamContext,
        store: FindingStore,
        registries: Registries,
        app_settings: AppSettings,
    ) -> None:
        self._js = js
        self._store = store
        self._registries = registries
        self._settings = app_settings

    async def scan_and_store(
        self,
        objects: Sequence[Mapping[str, Any]],
        source: str,
        save: bool = True,
        tags: Sequence[str | None] | None = None,
    ) -> tuple[int, int]:
        """Scan ``objects``; returns (findings raised, of which new).

        ``tags`` (one per object) name the bus message each object came from: a finding it
        created is announced again when the message is tried again (see
        :meth:`FindingStore.replace_builtin_many`).
        """
        trusted = await self._registries.current()
        netpol = await self._store.network_policy_namespaces()
        netpol |= {namespace_of(o) for o in objects if o.get("kind") == "NetworkPolicy"}
        results = scan(objects, trusted_registries=trusted, network_policy_namespaces=netpol)
        metrics.MANIFEST_OBJECTS.labels(source).inc(len(objects))
        by_resource: dict[tuple[str, str, str], list[Finding]] = {}
        origin: dict[tuple[str, str, str], str | None] = {}
        for i, obj in enumerate(objects):
            resource = (str(obj["kind"]), namespace_of(obj), str(obj["metadata"]["name"]))
            by_resource[resource] = []
            origin[resource] = tags[i] if tags is not None else None
        if save:
            await self._store.save_manifests([(obj, namespace_of(obj)) for obj in objects])
        for finding in results:
            by_resource.setdefault(
                (finding.resource_type, finding.namespace, finding.resource_name), []
            ).append(finding)
        batch: list[Scanned] = []
        for (kind, ns, name), findings in by_resource.items():
            excluded = exclusion(self._settings, ns, kind, name)
            if excluded is not None:
                metrics.DROPPED.labels(excluded).inc(len(findings))
                findings = []
            kept = [f for f in findings if not is_suppressed(self._settings, f.title, f.check, ns)]
            if len(kept) < len(findings):
                metrics.DROPPED.labels("excluded_rule").inc(len(findings) - len(kept))
                findings = kept
            items = [
                (finding_key(kind, ns, name, f.check, dict(f.details)), fields_of(f))
                for f in findings
            ]
            batch.append(Scanned(kind, ns, name, items, origin.get((kind, ns, name))))
        created = [doc for docs in await self._store.replace_builtin_many(batch) for doc in docs]
        raised = sum(len(item.findings) for item in batch)
        new = len(created)
        metrics.FINDINGS.labels("builtin", "created").inc(new)
        metrics.FINDINGS.labels("builtin", "updated").inc(raised - new)
        if created:
            await self._store.register_titles(
                {(str(d["namespace"]), str(d["title"])) for d in created}
            )
        for doc in created:
            await events.security_finding(self._js, doc)
        return raised, new

    async def rescan(self, reason: str) -> int:
        """Scan every stored manifest again; announces start and end. Returns objects."""
        await events.rescan_status(self._js, "started", reason)
        count = 0
        try:
            for batch in await self._store.manifests():
                await self.scan_and_store(batch, "rescan", save=False)
                count += len(batch)
        finally:
            await events.rescan_status(self._js, "completed", reason)
        log.info("rescanned %d stored manifests (%s)", count, reason)
        return count
