"""Kure's pod-monitoring endpoints: report, list and change failed pods.

Reports go through ingest like an agent's bus message (``kubeward.collect.pod-failures``)
and are answered with the stored, diagnosed record. Reads and changes ask failure-analyzer
over request/reply.
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
from kubeward.gateway.responses import DismissedDeleted, ExcludedReport, MessageOut, declare
from kubeward.gateway.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    MAX_NAME,
    STATUSES,
    Dismiss,
    DismissDeleted,
    FailureCommand,
    FailureQuery,
    FailureStatus,
    FailureView,
    PodFailure,
    PodFailureReport,
    Restore,
    RetrySolution,
    SetStatus,
)
from kubeward.schemas.replies import Reply

UNAVAILABLE = "Failure analyzer is not available"
NOT_FOUND = "Pod failure not found"
_STATUSES: dict[str, FailureStatus] = {s: s for s in STATUSES}
INVALID_STATUS = f"Invalid status. Must be one of: {', '.join(STATUSES)}"


class StatusIn(msgspec.Struct, kw_only=True):
    """``PUT /api/pods/{id}/status`` body."""

    status: str
    resolution_note: str | None = None
    """Accepted for Kure compatibility; not stored."""


class DeletedPodIn(msgspec.Struct, kw_only=True):
    """``POST /api/pods/dismiss-deleted`` body (the agent's)."""

    namespace: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    pod_name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]


async def _command(link: BusLink, command: FailureCommand, timeout: float | None = None) -> Reply:
    return await link.ask(
        bus.RPC_FAILURES_COMMAND, msgspec.json.encode(command), UNAVAILABLE, timeout
    )


def _actor(request: Request[Any, Any, State]) -> str:
    return principal_of(request).username


async def _list(
    request: Request[Any, Any, State],
    link: BusLink,
    view: FailureView,
    namespace: str | None,
    limit: int,
    cursor: str | None,
) -> Response[Any]:
    query = FailureQuery(view=view, namespace=namespace, limit=limit, cursor=cursor)
    reply = await link.ask_shared(bus.RPC_FAILURES_LIST, msgspec.json.encode(query), UNAVAILABLE)
    return json_reply(reply, next_page_headers(request, reply.cursor) if reply.ok else None)


Limit = Annotated[int, QueryParameter(ge=1, le=5000)]
PAGE = declare(list[PodFailure], "One page of records, newest first")
RECORD = declare(PodFailure, "The record as stored now")


class PodFailuresController(Controller):
    """Failed pods: agent reports in, dashboards read and triage them."""

    path = "/api/pods"
    tags = ["pods"]

    @post(
        "/failed",
        dependencies=documented(PodFailureReport),
        status_code=200,
        opt={"service_only": True},
        summary="Report a failed pod (agent)",
        description="Body: the Kure agent's report. A repeat report for a pod with an open "
        "failure updates that record. Answers the stored record with its solution; a pod in "
        'an excluded namespace or matching an excluded pattern answers {"excluded": true, '
        '"reason": ...} and is not stored.',
        responses=declare(PodFailure | ExcludedReport, "The stored record, or why it was not"),
    )
    async def report(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Publish the report exactly as an agent would and relay the outcome."""
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            raise ClientException(detail="Expected one JSON object")
        return json_reply(await link.collect(bus.COLLECT_POD_FAILURES, body))

    @get("/failed", summary="List active failures (new, investigating)", responses=PAGE)
    async def active(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        namespace: FromQuery[str | None] = None,
        limit: Limit = 1000,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Newest first; more pages through ``X-Next-Cursor`` / ``Link``."""
        return await _list(request, link, "active", namespace, limit, cursor)

    @get("/history", summary="List resolved failures", responses=PAGE)
    async def history(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        namespace: FromQuery[str | None] = None,
        limit: Limit = 1000,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Newest first."""
        return await _list(request, link, "history", namespace, limit, cursor)

    @get("/ignored", summary="List ignored failures", responses=PAGE)
    async def ignored(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        namespace: FromQuery[str | None] = None,
        limit: Limit = 1000,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Newest first."""
        return await _list(request, link, "ignored", namespace, limit, cursor)

    @put(
        "/{pod_id:str}/status",
        summary="Update a failure's status",
        description="new, investigating, resolved or ignored. A resolved failure stays "
        "resolved (the pod's next failure opens a new record); ignored ones come back "
        "with new.",
        responses=RECORD,
    )
    async def set_status(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
        data: Annotated[StatusIn, Body()],
    ) -> Response[Any]:
        """400 for an unknown status or a transition that is not allowed; 404 for an id."""
        status = _STATUSES.get(data.status)
        if status is None:
            raise ClientException(detail=INVALID_STATUS)
        command = SetStatus(id=path_id(pod_id, NOT_FOUND), status=status, actor=_actor(request))
        return json_reply(await _command(link, command))

    @delete(
        "/failed/{pod_id:str}",
        status_code=200,
        summary="Dismiss a failure (resolve it)",
        responses=declare(MessageOut, "Dismissed"),
    )
    async def dismiss(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
    ) -> Response[Any]:
        """The failure moves to history."""
        return json_reply(
            await _command(link, Dismiss(id=path_id(pod_id, NOT_FOUND), actor=_actor(request)))
        )

    @put(
        "/ignored/{pod_id:str}/restore",
        summary="Restore an ignored failure",
        responses=declare(MessageOut, "Restored"),
    )
    async def restore(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
    ) -> Response[Any]:
        """The failure becomes new again; 400 when it is not ignored."""
        return json_reply(
            await _command(link, Restore(id=path_id(pod_id, NOT_FOUND), actor=_actor(request)))
        )

    @post(
        "/failed/{pod_id:str}/retry-solution",
        status_code=200,
        summary="Diagnose a failure again",
        description="With an LLM configured, asks it again (offline answer on failure, "
        "marked solution_source=offline-fallback); otherwise re-runs the offline analyzers.",
        responses=RECORD,
    )
    async def retry(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        settings: NamedDependency[Settings],
        pod_id: FromPath[str],
    ) -> Response[Any]:
        """Answers the record with its new solution."""
        command = RetrySolution(id=path_id(pod_id, NOT_FOUND), actor=_actor(request))
        return json_reply(await _command(link, command, settings.diagnosis_timeout_seconds))

    @post(
        "/dismiss-deleted",
        status_code=200,
        opt={"service_only": True},
        summary="A pod was deleted or recovered (agent)",
        responses=declare(DismissedDeleted, "Whether an open failure was resolved"),
    )
    async def dismiss_deleted(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        data: Annotated[DeletedPodIn, Body()],
    ) -> Response[Any]:
        """Resolves the pod's open failure and announces ``pod_deleted``."""
        command = DismissDeleted(
            namespace=data.namespace, pod_name=data.pod_name, actor=_actor(request)
        )
        return json_reply(await _command(link, command))
