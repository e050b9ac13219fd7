"""Request/reply handlers: list findings and change them, trusted registries, ad-hoc scans."""

from __future__ import annotations

import asyncio
import logging

import httpx
import msgspec
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.core.ingest_first import IngestFirst
from kubeward.schemas.replies import Reply, error
from kubeward.schemas.security import (
    CLUSTER_SCOPE,
    AddRegistry,
    ClearFindings,
    DeleteResourceFindings,
    DismissFinding,
    FindingManifest,
    FindingNamespaces,
    FindingQuery,
    FixFinding,
    ListRegistries,
    PurgeRule,
    RemoveRegistry,
    RequestRescan,
    RescanStatus,
    RestoreFinding,
    RuleTitles,
    ScanDuration,
    ScanManifest,
    SecurityCommand,
)
from kubeward.schemas.settings import EXCLUDED_RULES
from kubeward.security import events, fix, manifest_view, metrics, registries
from kubeward.security.admin_settings import llm_config
from kubeward.security.registries import Registries
from kubeward.security.scanner import CHECKS, DEFAULT_TRUSTED_REGISTRIES, parse_manifests, scan
from kubeward.security.scanning import BuiltinScanner, namespace_of
from kubeward.security.store import FindingStore, to_api

log = logging.getLogger(__name__)

NOT_FOUND = "Finding not found"
MANUAL_RESCAN = "manual"
"""The ``reason`` of the built-in scanner's rescan started by ``POST /api/security/rescan``."""


def _body(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


class Commands:
    """Answers ``kubeward.rpc.security.list`` and ``.command``."""

    def __init__(
        self,
        js: JetStreamContext,
        store: FindingStore,
        trusted: Registries,
        scanner: BuiltinScanner,
        app_settings: AppSettings,
        *,
        max_page: int,
        llm_timeout: float,
        ingest_first: IngestFirst | None = None,
    ) -> None:
        self._js = js
        self._store = store
        self._trusted = trusted
        self._scanner = scanner
        self._settings = app_settings
        self._max_page = max_page
        self._ingest_first = ingest_first or IngestFirst(0)
        self._llm_timeout = llm_timeout
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._rescans: set[asyncio.Task[int]] = set()

    async def close(self) -> None:
        """Let running rescans finish, then close the HTTP pool."""
        if self._rescans:
            await asyncio.gather(*self._rescans, return_exceptions=True)
        await self._client.aclose()

    async def list(self, query: FindingQuery) -> Reply:
        """One page of findings, newest first."""
        if query.cursor is not None and not (query.cursor.isascii() and query.cursor.isdigit()):
            return error(400, f"cursor: {query.cursor!r} is not a cursor this API gave out")
        async with self._ingest_first.listing() as pace:
            docs, next_id = await self._store.query(
                query, self._max_page, slice_rows=pace.slice_rows, between=pace.step
            )
            rows = [to_api(d) for d in docs]
        return Reply(
            body=_body(rows),
            count=len(docs),
            cursor=None if next_id is None else str(next_id),
        )

    async def command(self, command: SecurityCommand) -> Reply:
        """Dispatch one command."""
        if isinstance(command, DismissFinding | RestoreFinding):
            dismissed = isinstance(command, DismissFinding)
            doc = await self._store.set_dismissed(command.id, dismissed)
            if doc is None:
                return error(404, NOT_FOUND)
            word = "dismissed" if dismissed else "restored"
            return Reply(body=_body({"message": f"Security finding {word}"}))
        if isinstance(command, FixFinding):
            return await self._fix(command.id)
        if isinstance(command, ClearFindings):
            count = await self._store.clear("scanner")
            return Reply(body=_body({"message": "Security findings cleared", "count": count}))
        if isinstance(command, DeleteResourceFindings):
            count = await self._store.delete_resource(
                command.resource_type, command.namespace, command.resource_name
            )
            message = f"Deleted {count} findings for resource"
            return Reply(body=_body({"message": message, "count": count}))
        if isinstance(command, RescanStatus):
            await events.rescan_status(self._js, command.status, command.reason)
            return Reply(body=_body({"message": f"Rescan status '{command.status}' broadcasted"}))
        if isinstance(command, ScanDuration):
            metrics.SCAN_DURATION.set(command.duration_seconds)
            metrics.KURE_SCAN_DURATION.set(command.duration_seconds)
            return Reply(body=_body({"message": "Scan duration recorded"}))
        if isinstance(command, ListRegistries):
            current = await self._trusted.load()
            body = {"registries": current, "defaults": list(DEFAULT_TRUSTED_REGISTRIES)}
            return Reply(body=_body(body))
        if isinstance(command, AddRegistry | RemoveRegistry):
            return await self._change_registry(command)
        if isinstance(command, FindingManifest):
            return await self._manifest(command.id)
        if isinstance(command, RequestRescan):
            await events.rescan_request(self._js)
            self._background_rescan(MANUAL_RESCAN)
            return Reply(body=_body({"message": "Security rescan requested"}))
        if isinstance(command, PurgeRule):
            # Take the new exclusion into account before purging, so that nothing this
            # replica stores afterwards slips through while its settings watch catches up.
            await self._settings.refresh(EXCLUDED_RULES)
            count = await self._store.purge_rule(command.rule_title, command.namespace)
            return Reply(body=_body({"deleted": count}))
        if isinstance(command, RuleTitles):
            return await self._rule_titles(command.namespace)
        if isinstance(command, FindingNamespaces):
            found = await self._store.namespaces()
            return Reply(body=_body(sorted(n for n in found if n != CLUSTER_SCOPE)))
        return await self._scan(command)

    async def _manifest(self, finding_id: int) -> Reply:
        """Kure's answer: the cleaned manifest (``""`` when there is none) and the
        finding's identity."""
        doc = await self._store.get(finding_id)
        if doc is None:
            return error(404, NOT_FOUND)
        text = doc.get("manifest") or ""
        if text:
            text = manifest_view.render_text(text)
        else:
            stored = await self._store.manifest(
                doc["resource_type"], doc["namespace"], doc["resource_name"]
            )
            text = manifest_view.render(stored) if stored is not None else ""
        body = {
            "id": doc["_id"],
            "manifest": text,
            "resource_type": doc["resource_type"],
            "resource_name": doc["resource_name"],
            "namespace": doc["namespace"],
            "title": doc.get("title", ""),
            "description": doc.get("description", ""),
            "remediation": doc.get("remediation", ""),
            "severity": doc["severity"],
        }
        return Reply(body=_body(body))

    async def _rule_titles(self, namespace: str | None) -> Reply:
        """Titles seen (in ``namespace``), with the base of every ``"base: part"`` title as
        Kure lists them; without a namespace also every built-in check's title."""
        titles = set(await self._store.titles(namespace))
        titles |= {t.split(": ", 1)[0] for t in titles if ": " in t}
        if not namespace:
            titles |= {c.title for c in CHECKS.values()}
        return Reply(body=_body(sorted(titles)))

    def _background_rescan(self, reason: str) -> None:
        """Rescan every stored manifest after the answer (status on the feed)."""
        task = asyncio.create_task(self._scanner.rescan(reason))
        self._rescans.add(task)
        task.add_done_callback(self._rescans.discard)

    async def _fix(self, finding_id: int) -> Reply:
        doc = await self._store.get(finding_id)
        if doc is None:
            return error(404, NOT_FOUND)
        manifest = await self._store.manifest(
            doc["resource_type"], doc["namespace"], doc["resource_name"]
        )
        if manifest is None and doc.get("manifest"):
            try:
                objects = parse_manifests(doc["manifest"])
                manifest = objects[0] if objects else None
            except ValueError:
                manifest = None
        answer = await fix.fix(
            llm_config(self._settings),
            doc,
            manifest_view.clean(manifest) if manifest is not None else None,
            timeout=self._llm_timeout,
            client=self._client,
        )
        return Reply(body=_body(answer))

    async def _change_registry(self, command: AddRegistry | RemoveRegistry) -> Reply:
        try:
            entry = registries.normalise(command.registry)
        except ValueError as exc:
            return error(400, str(exc))
        adding = isinstance(command, AddRegistry)
        changed = await (self._trusted.add(entry) if adding else self._trusted.remove(entry))
        if not changed:
            if adding:
                return Reply(body=_body({"message": "Registry already trusted", "registry": entry}))
            return error(404, f"Registry {entry} is not trusted")
        action = "added" if adding else "removed"
        await events.trusted_registry_change(self._js, entry, action)
        # The rescan runs after the answer: findings follow within seconds, announced by
        # security_rescan_status started/completed.
        self._background_rescan("trusted_registry_change")
        status = 201 if adding else 200
        return Reply(
            status=status, body=_body({"message": f"Registry {action}", "registry": entry})
        )

    async def _scan(self, command: ScanManifest) -> Reply:
        try:
            objects = parse_manifests(command.manifest)
        except ValueError as exc:
            return error(400, f"Invalid manifest: {exc}")
        trusted = await self._trusted.current()
        netpol = {namespace_of(o) for o in objects if o.get("kind") == "NetworkPolicy"}
        netpol |= await self._store.network_policy_namespaces()
        findings = scan(objects, trusted_registries=trusted, network_policy_namespaces=netpol)
        metrics.MANIFEST_OBJECTS.labels("api").inc(len(objects))
        body = {"scanned": len(objects), "findings": [msgspec.to_builtins(f) for f in findings]}
        return Reply(body=_body(body))
