"""Bus workers: scanner findings, manifests from agents, and failed pods' manifests."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kubeward.core.app_settings import AppSettings
from kubeward.core.bus import publish_reply
from kubeward.schemas.pod_failures import FailureReportBatch
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import FindingBatch, ManifestBatch, SecurityFindingIn, finding_key
from kubeward.security import events, metrics
from kubeward.security.admin_settings import is_suppressed
from kubeward.security.scanner import parse_manifests
from kubeward.security.scanning import BuiltinScanner, exclusion
from kubeward.security.store import FindingStore, announce_again, rule_keys, to_api

log = logging.getLogger(__name__)

_SLUG = re.compile(r"[^a-z0-9]+")


def fields_of(finding: SecurityFindingIn) -> dict[str, object]:
    """A scanner's finding as stored (Kure's older title/description fields folded in)."""
    check = finding.check_name or _SLUG.sub("_", (finding.title or "").lower()).strip("_")
    message = finding.message or finding.description or finding.title or check
    title = finding.title or check
    return {
        "resource_type": finding.resource_type,
        "resource_name": finding.resource_name,
        "namespace": finding.namespace,
        "check_name": check,
        "severity": finding.severity,
        "message": message,
        "remediation": finding.remediation or "",
        "details": finding.details or {},
        "title": title,
        "rule_keys": rule_keys(title, check),
        "description": finding.description or message,
        "category": finding.category or "Security",
        "source": "scanner",
        "json_path": None,
        "timestamp": finding.timestamp,
        "manifest": finding.manifest,
    }


def _reply(value: object) -> bytes:
    return msgspec.json.encode(Reply(body=msgspec.Raw(msgspec.json.encode(value))))


class FindingHandler:
    """Batch handler for ``kubeward.security.findings``."""

    payload = FindingBatch

    def __init__(self, nc: NATS, store: FindingStore, app_settings: AppSettings) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._store = store
        self._settings = app_settings
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Store every finding; answer HTTP callers; announce new ones."""
        for msg in msgs:
            for envelope in self._decoder.decode(msg.data).findings:
                f = envelope.finding
                fields = fields_of(f)
                excluded = exclusion(self._settings, f.namespace, f.resource_type, f.resource_name)
                if excluded is None and is_suppressed(
                    self._settings, str(fields["title"]), str(fields["check_name"]), f.namespace
                ):
                    excluded = "excluded_rule"
                if excluded is not None:
                    metrics.DROPPED.labels(excluded).inc()
                    if envelope.reply_to:
                        body = {"excluded": True, "reason": excluded}
                        await publish_reply(self._nc, envelope.reply_to, _reply(body))
                    continue
                key = finding_key(
                    f.resource_type,
                    f.namespace,
                    f.resource_name,
                    str(fields["check_name"]),
                    f.details or {},
                )
                tag = f"{envelope.origin_seq}:{envelope.index}"  # the same on redelivery
                doc, is_new = await self._store.upsert(key, fields, created_by=tag)
                metrics.FINDINGS.labels("scanner", "created" if is_new else "updated").inc()
                metrics.KURE_FINDINGS.labels(f.severity).inc()
                if is_new or announce_again(doc, tag):
                    await self._store.register_titles({(f.namespace, str(fields["title"]))})
                    await events.security_finding(self._js, doc)
                if envelope.reply_to:
                    await publish_reply(self._nc, envelope.reply_to, _reply(to_api(doc)))


class ManifestHandler:
    """Batch handler for ``kubeward.security.manifests``."""

    payload = ManifestBatch

    def __init__(self, nc: NATS, scanner: BuiltinScanner) -> None:
        self._nc = nc
        self._scanner = scanner
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Scan each message's objects together."""
        for msg in msgs:
            for index, envelope in enumerate(self._decoder.decode(msg.data).manifests):
                tag = f"{envelope.origin_seq}:{index}"
                raised, new = await self._scanner.scan_and_store(
                    envelope.objects, envelope.source, tags=[tag] * len(envelope.objects)
                )
                if envelope.reply_to:
                    body = {"scanned": len(envelope.objects), "findings": raised, "new": new}
                    await publish_reply(self._nc, envelope.reply_to, _reply(body))


class FailedPodManifests:
    """Batch handler for ``kubeward.failures.report``: scans the failed pods' manifests."""

    payload = FailureReportBatch

    def __init__(self, scanner: BuiltinScanner) -> None:
        self._scanner = scanner
        self._decoder = msgspec.msgpack.Decoder(self.payload)

    async def __call__(self, msgs: list[Msg]) -> None:
        """Scan the pods of every report of the batch together (one scan, one read of the
        trusted registries and NetworkPolicy namespaces); a pod reported twice is scanned as
        its latest report has it. A manifest that does not parse is skipped (the report
        itself is fine)."""
        pods: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for msg in msgs:
            for envelope in self._decoder.decode(msg.data).reports:
                text = envelope.report.manifest
                if not text or not text.strip():
                    continue
                try:
                    objects = [o for o in parse_manifests(text) if o.get("kind") == "Pod"]
                except ValueError as exc:
                    log.info(
                        "skipping the manifest of %s/%s: %s",
                        envelope.report.namespace,
                        envelope.report.pod_name,
                        exc,
                    )
                    continue
                for obj in objects:
                    metadata = obj.setdefault("metadata", {})
                    namespace = metadata.setdefault("namespace", envelope.report.namespace)
                    pods.pop((str(namespace), str(metadata.get("name"))), None)
                    pods[(str(namespace), str(metadata.get("name")))] = (
                        obj,
                        f"{envelope.origin_seq}:{envelope.index}",
                    )
        if pods:
            objects = [obj for obj, _tag in pods.values()]
            tags = [tag for _obj, tag in pods.values()]
            await self._scanner.scan_and_store(objects, "pod-failure", tags=tags)
