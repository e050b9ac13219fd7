"""Kure's security endpoints: scanner ingest, findings, AI fixes, trusted registries, and an
ad-hoc scan of a manifest with the built-in scanner.

Scanner findings go through ingest like a scanner's bus message
(``kubeward.collect.security-findings``); everything else asks the security service over
request/reply.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import Body, FromPath, FromQuery, QueryParameter

from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import json_reply
from kubeward.gateway.params import next_page_headers, path_id
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import (
    CountedMessage,
    ExcludedReport,
    FindingManifestView,
    FixAnswer,
    MessageOut,
    RegistryChange,
    ScanResult,
    TrustedRegistries,
    declare,
)
from kubeward.gateway.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import (
    AddRegistry,
    ClearFindings,
    DeleteResourceFindings,
    DismissFinding,
    FindingManifest,
    FindingQuery,
    FixFinding,
    ListRegistries,
    RemoveRegistry,
    RequestRescan,
    RescanStatus,
    RestoreFinding,
    ScanDuration,
    ScanManifest,
    SecurityCommand,
    SecurityFinding,
    SecurityFindingIn,
)

UNAVAILABLE = "Security service is not available"
NOT_FOUND = "Finding not found"
MAX_MANIFEST = 2 * 1024 * 1024


class RescanStatusIn(msgspec.Struct, kw_only=True):
    """``POST /api/security/rescan-status`` body."""

    status: str
    reason: str | None = None


class ScanDurationIn(msgspec.Struct, kw_only=True):
    """``POST /api/metrics/security-scan-duration`` body (either name of the field)."""

    duration_seconds: Annotated[float, msgspec.Meta(ge=0)] | None = None
    duration: Annotated[float, msgspec.Meta(ge=0)] | None = None


class RegistryIn(msgspec.Struct, kw_only=True):
    """``POST /api/security/trusted-registries`` body."""

    registry: str


async def _command(link: BusLink, command: SecurityCommand, timeout: float | None = None) -> Reply:
    payload = msgspec.json.encode(command)
    return await link.ask(bus.RPC_SECURITY_COMMAND, payload, UNAVAILABLE, timeout)


class SecurityController(Controller):
    """Security findings, trusted registries and scans."""

    path = "/api"
    tags = ["security"]

    # --- Scanner ingest (service token) -------------------------------------------

    @post(
        "/security/findings",
        dependencies=documented(SecurityFindingIn),
        status_code=200,
        opt={"service_only": True},
        summary="Report a security finding (scanner)",
        description="Body: Kure's finding (or an array of them). The same finding (resource, "
        "check, part) reported again updates its record. Answers the stored finding.",
        responses=declare(SecurityFinding | ExcludedReport, "The stored finding, or why not"),
    )
    async def report(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Publish the finding exactly as a scanner would and relay the outcome."""
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            raise ClientException(detail="Expected one JSON object")
        return json_reply(await link.collect(bus.COLLECT_SECURITY_FINDINGS, body))

    @post(
        "/security/scan/clear",
        status_code=200,
        opt={"service_only": True},
        summary="Clear the scanner's findings (before a full scan)",
        responses=declare(CountedMessage, "How many findings were deleted"),
    )
    async def clear(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """The built-in scanner's findings stay."""
        return json_reply(await _command(link, ClearFindings()))

    @post(
        "/security/rescan-status",
        status_code=200,
        opt={"service_only": True},
        summary="Announce a rescan's status (scanner)",
        responses=declare(MessageOut, "Announced"),
    )
    async def rescan_status(
        self, link: NamedDependency[BusLink], data: Annotated[RescanStatusIn, Body()]
    ) -> Response[Any]:
        """``security_rescan_status`` on the feed."""
        if data.status == "started":
            command = RescanStatus(status="started", reason=data.reason)
        elif data.status == "completed":
            command = RescanStatus(status="completed", reason=data.reason)
        else:
            raise ClientException(detail="status must be 'started' or 'completed'")
        return json_reply(await _command(link, command))

    @delete(
        "/security/findings/resource/{resource_type:str}/{namespace:str}/{resource_name:str}",
        status_code=200,
        opt={"service_only": True},
        summary="Delete a deleted resource's findings (scanner)",
        responses=declare(CountedMessage, "How many findings were deleted"),
    )
    async def delete_resource(
        self,
        link: NamedDependency[BusLink],
        resource_type: FromPath[str],
        namespace: FromPath[str],
        resource_name: FromPath[str],
    ) -> Response[Any]:
        """Answers ``{"message", "count"}``."""
        command = DeleteResourceFindings(
            resource_type=resource_type, namespace=namespace, resource_name=resource_name
        )
        return json_reply(await _command(link, command))

    @post(
        "/metrics/security-scan-duration",
        status_code=200,
        opt={"service_only": True},
        summary="Record how long the scanner's full scan took",
        responses=declare(MessageOut, "Recorded"),
    )
    async def scan_duration(
        self, link: NamedDependency[BusLink], data: Annotated[ScanDurationIn, Body()]
    ) -> Response[Any]:
        """Exposed as ``kubeward_security_scan_duration_seconds`` on security's /metrics."""
        seconds = data.duration_seconds if data.duration_seconds is not None else data.duration
        if seconds is None:
            raise ClientException(detail="duration_seconds is required")
        return json_reply(await _command(link, ScanDuration(duration_seconds=seconds)))

    # --- Findings (users) ----------------------------------------------------------

    @get(
        "/security/findings",
        summary="List security findings",
        responses=declare(list[SecurityFinding], "One page of findings, newest first"),
    )
    async def findings(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        severity: FromQuery[str | None] = None,
        namespace: FromQuery[str | None] = None,
        resource: FromQuery[str | None] = None,
        resource_type: FromQuery[str | None] = None,
        check: FromQuery[str | None] = None,
        dismissed: FromQuery[bool] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 5000,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Active findings (``dismissed=true``: dismissed ones), newest first, filtered by
        severity, namespace, resource (name), resource_type and check."""
        query = FindingQuery(
            severity=severity.lower() if severity else None,
            namespace=namespace,
            resource_name=resource,
            resource_type=resource_type,
            check=check,
            dismissed=dismissed,
            limit=limit,
            cursor=cursor,
        )
        reply = await link.ask_shared(
            bus.RPC_SECURITY_LIST, msgspec.json.encode(query), UNAVAILABLE
        )
        return json_reply(reply, next_page_headers(request, reply.cursor) if reply.ok else None)

    @delete(
        "/security/findings/{finding_id:str}",
        status_code=200,
        summary="Dismiss a finding",
        responses=declare(MessageOut, "Dismissed"),
    )
    async def dismiss(
        self, link: NamedDependency[BusLink], finding_id: FromPath[str]
    ) -> Response[Any]:
        """The finding leaves the list; a repeat report does not bring it back."""
        return json_reply(await _command(link, DismissFinding(id=path_id(finding_id, NOT_FOUND))))

    @put(
        "/security/findings/{finding_id:str}/restore",
        summary="Restore a dismissed finding",
        responses=declare(MessageOut, "Restored"),
    )
    async def restore(
        self, link: NamedDependency[BusLink], finding_id: FromPath[str]
    ) -> Response[Any]:
        """The finding is listed again."""
        return json_reply(await _command(link, RestoreFinding(id=path_id(finding_id, NOT_FOUND))))

    @get(
        "/security/findings/{finding_id:str}/manifest",
        summary="A finding's resource manifest (as Kure's manifest viewer reads it)",
        responses=declare(FindingManifestView, "The manifest and the finding's identity"),
    )
    async def manifest(
        self, link: NamedDependency[BusLink], finding_id: FromPath[str]
    ) -> Response[Any]:
        """``{id, manifest, resource_type, resource_name, namespace, title, description,
        remediation, severity}``; ``manifest`` is the scanner's YAML (or the built-in
        scanner's stored object) without what the cluster assigned, ``""`` when none is
        known. 404 ``Finding not found``."""
        command = FindingManifest(id=path_id(finding_id, NOT_FOUND))
        return json_reply(await _command(link, command))

    @post(
        "/security/rescan",
        status_code=200,
        opt={"role": "write"},
        summary="Ask the scanners for a full rescan",
        description="Publishes Kure's security_rescan_request on the feed (external "
        "scanners connected to /ws rescan) and rescans the built-in scanner's stored "
        'manifests (security_rescan_status reason "manual"). Answers {"message": '
        '"Security rescan requested"}.',
        responses=declare(MessageOut, "Requested"),
    )
    async def rescan(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """As Kure's dashboard calls it (write role)."""
        actor = principal_of(request).username
        return json_reply(await _command(link, RequestRescan(actor=actor)))

    @post(
        "/security/findings/{finding_id:str}/fix",
        status_code=200,
        summary="Generate a fix for a finding",
        description="With an LLM configured, a fixed manifest and its diff; otherwise (or "
        "when the LLM fails) the check's own remediation, is_fallback=true.",
        responses=declare(FixAnswer, "The fix"),
    )
    async def fix(
        self,
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        finding_id: FromPath[str],
    ) -> Response[Any]:
        """Answers ``{finding_id, original_manifest, fixed_manifest, diff, explanation,
        is_fallback}``."""
        command = FixFinding(id=path_id(finding_id, NOT_FOUND))
        return json_reply(await _command(link, command, settings.diagnosis_timeout_seconds))

    @post(
        "/security/scan",
        dependencies=documented(str, media_type="application/yaml"),
        status_code=200,
        summary="Scan a manifest now (YAML or JSON; nothing is stored)",
        description="Body: manifest text (one or more YAML documents, JSON, a List) or "
        '{"manifest": "<text>"}. Answers {"scanned": n, "findings": [...]}.',
        responses=declare(ScanResult, "What the scanner found"),
    )
    async def scan(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """The built-in scanner over the body, with the current trusted registries."""
        body = await request.body()
        if len(body) > MAX_MANIFEST:
            raise ClientException(detail=f"Manifest exceeds {MAX_MANIFEST} bytes", status_code=413)
        text = body.decode("utf-8", errors="replace")
        if body.lstrip()[:1] == b"{":
            try:
                wrapped = msgspec.json.decode(body)
            except msgspec.DecodeError:
                wrapped = None
            if isinstance(wrapped, dict) and isinstance(wrapped.get("manifest"), str):
                text = wrapped["manifest"]
        if not text.strip():
            raise ClientException(detail="Empty manifest")
        return json_reply(await _command(link, ScanManifest(manifest=text)))

    # --- Trusted registries --------------------------------------------------------

    @get(
        "/security/trusted-registries",
        summary="List trusted registries",
        responses=declare(TrustedRegistries, "The admin's registries and the defaults"),
    )
    async def registries(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """``{"registries": [...], "defaults": [...]}``."""
        return json_reply(await _command(link, ListRegistries()))

    @post(
        "/security/trusted-registries",
        status_code=201,
        opt={"role": "admin"},
        summary="Trust a registry (rescans stored manifests)",
        responses={
            **declare(RegistryChange, "Added", 201),
            **declare(RegistryChange, "Already trusted"),
        },
    )
    async def add_registry(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        data: Annotated[RegistryIn, Body()],
    ) -> Response[Any]:
        """A host (``ghcr.io``) or repository prefix (``ghcr.io/acme``)."""
        actor = principal_of(request).username
        return json_reply(await _command(link, AddRegistry(registry=data.registry, actor=actor)))

    @delete(
        "/security/trusted-registries/{registry:path}",
        status_code=200,
        opt={"role": "admin"},
        summary="Stop trusting a registry (rescans stored manifests)",
        responses=declare(RegistryChange, "Removed"),
    )
    async def remove_registry(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        registry: FromPath[str],
    ) -> Response[Any]:
        """404 when it was not trusted."""
        actor = principal_of(request).username
        command = RemoveRegistry(registry=registry.lstrip("/"), actor=actor)
        return json_reply(await _command(link, command))
