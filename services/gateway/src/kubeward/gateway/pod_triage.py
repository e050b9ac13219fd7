"""The Kure dashboard's failed-pod calls that the reference does not list.

Kure's dashboard (``frontend/src/services/api.js``) triages with
``PATCH /api/pods/failed/{id}/status`` (Acknowledge, Ignore, Restore), deletes history
with ``DELETE /api/pods/records/{id}``, asks ``POST /api/pods/failed/{id}/troubleshoot``
for a diagnosis of the crash logs, and Kure's backend serves
``GET /api/pods/{namespace}/{pod_name}/manifest``. Each answers as Kure's backend does;
failure-analyzer does the work (see ``kubeward.failure_analyzer.kure_triage``).

``/api/pods/records/...`` and the manifest route share ``/api/pods/{namespace}/...`` with
the pod-log routes: a namespace literally named like a static segment (``failed``,
``ignored``, ``records``) is routed to the static routes, so those namespaces get their
manifest through explicit routes here (as the log routes do in ``pod_logs``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import Body, FromPath, FromQuery

from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import json_reply
from kubeward.gateway.params import path_id
from kubeward.gateway.responses import MessageOut, PodManifest, Troubleshooting, declare
from kubeward.gateway.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    MAX_NAME,
    STATUSES,
    DeleteRecord,
    FailureCommand,
    FailureStatus,
    GetPodManifest,
    PodFailure,
    Troubleshoot,
    UpdateStatus,
)
from kubeward.schemas.replies import error

UNAVAILABLE = "Failure analyzer is not available"
NOT_FOUND = "Pod failure not found"
INVALID_STATUS = f"Invalid status. Must be one of: {', '.join(STATUSES)}"
_STATUSES: dict[str, FailureStatus] = {s: s for s in STATUSES}
MANIFEST_RESERVED = ("failed", "ignored", "records")
"""Namespaces whose names are static segments of the failure routes."""


class PodStatusPatch(msgspec.Struct, kw_only=True):
    """``PATCH /api/pods/failed/{id}/status`` body, as the dashboard sends it
    (``{"status": "investigating"}``, ``resolution_note`` when given)."""

    status: str
    resolution_note: str | None = None


async def _command(link: BusLink, command: FailureCommand, timeout: float | None = None) -> Any:
    return await link.ask(
        bus.RPC_FAILURES_COMMAND, msgspec.json.encode(command), UNAVAILABLE, timeout
    )


def _actor(request: Request[Any, Any, State]) -> str:
    return principal_of(request).username


async def _manifest(link: BusLink, namespace: str, pod_name: str) -> Response[Any]:
    if not (0 < len(namespace) <= MAX_NAME and 0 < len(pod_name) <= MAX_NAME):
        return json_reply(error(404, NOT_FOUND))
    return json_reply(await _command(link, GetPodManifest(namespace=namespace, pod_name=pod_name)))


class PodTriageController(Controller):
    """Kure's dashboard calls: status by PATCH, record deletion, manifest, troubleshoot."""

    path = "/api/pods"
    tags = ["pods"]

    @patch(
        "/failed/{pod_id:str}/status",
        summary="Update a failure's status (Kure dashboard)",
        description="Kure's transitions: new -> investigating or ignored, investigating -> "
        "ignored, ignored -> new. Answers the record.",
        responses=declare(PodFailure, "The record as stored now"),
    )
    async def patch_status(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
        data: Annotated[PodStatusPatch, Body()],
    ) -> Response[Any]:
        """400 for an unknown status or a transition Kure refuses; 404 for an id."""
        status = _STATUSES.get(data.status)
        if status is None:
            raise ClientException(detail=INVALID_STATUS)
        command = UpdateStatus(
            id=path_id(pod_id, NOT_FOUND),
            status=status,
            resolution_note=data.resolution_note,
            actor=_actor(request),
        )
        return json_reply(await _command(link, command))

    @delete(
        "/records/{pod_id:str}",
        status_code=200,
        summary="Delete a resolved or ignored failure record",
        responses=declare(MessageOut, "Deleted"),
    )
    async def delete_record(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
    ) -> Response[Any]:
        """``{"message": "Pod record deleted"}``; 400 for an open record."""
        command = DeleteRecord(id=path_id(pod_id, NOT_FOUND), actor=_actor(request))
        return json_reply(await _command(link, command))

    @post(
        "/failed/{pod_id:str}/troubleshoot",
        status_code=200,
        summary="Diagnose a failure from its captured crash logs",
        description="For CrashLoopBackOff, OOMKilled and Error failures whose report carried "
        "failure_logs. Cached on the record; regenerate=true makes a new one. The offline "
        "analyzers read the logs; with an LLM configured, it answers, built on them.",
        responses=declare(Troubleshooting, "The diagnosis (cached unless regenerate=true)"),
    )
    async def troubleshoot(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        pod_id: FromPath[str],
        regenerate: FromQuery[bool] = False,
    ) -> Response[Any]:
        """``{"solution", "generated_at", "cached", "log_aware"}``."""
        command = Troubleshoot(
            id=path_id(pod_id, NOT_FOUND), regenerate=regenerate, actor=_actor(request)
        )
        return json_reply(await _command(link, command, settings.diagnosis_timeout_seconds))

    @get(
        "/{namespace:str}/{pod_name:str}/manifest",
        summary="The manifest of a pod's latest failure record",
        description='{"manifest": "<YAML>", "pod_name", "namespace", "kind", "name", "id", '
        '"timestamp"}; 404 when no failure of the pod is stored.',
        responses=declare(PodManifest, "The stored manifest"),
    )
    async def manifest(
        self, link: NamedDependency[BusLink], namespace: FromPath[str], pod_name: FromPath[str]
    ) -> Response[Any]:
        """The stored manifest (as the agent sent it)."""
        return await _manifest(link, namespace, pod_name)

    @get(
        [f"/{ns}/{{pod_name:str}}/manifest" for ns in MANIFEST_RESERVED],
        include_in_schema=False,
    )
    async def manifest_reserved(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_name: FromPath[str],
    ) -> Response[Any]:
        """:meth:`manifest` for a namespace named like a static segment."""
        return await _manifest(link, request.url.path.split("/")[3], pod_name)
