"""Kure's mirror-pod endpoints, answered by the mirror service over request/reply.

The mirror service is the only component that writes to the cluster; the gateway forwards.
Preview, deploy and delete need the ``write`` role (POST/DELETE); status and active ``read``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath

from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import reply_response
from kubeward.gateway.responses import MirrorDeleted, declare
from kubeward.schemas import bus
from kubeward.schemas.mirror import (
    NOT_FOUND,
    Active,
    Delete,
    Deploy,
    MirrorCommand,
    MirrorInfo,
    MirrorPreview,
    MirrorStatus,
    Preview,
    Status,
)
from kubeward.schemas.replies import Reply

UNAVAILABLE = "Mirror service is not available"
FAILURE_NOT_FOUND = "Pod failure not found"
DEPLOY_TIMEOUT = 90.0
"""Preview and deploy may wait for an LLM."""


class DeployIn(msgspec.Struct, kw_only=True):
    """``POST /api/mirror/deploy/{pod_id}`` body (optional)."""

    ttl_seconds: int | None = None
    """30..3600; default: the ``mirror-ttl`` setting."""
    manifest: Annotated[str, msgspec.Meta(max_length=1_000_000)] | None = None
    """A Pod manifest (YAML) overriding the preview; same namespace, no added host access."""


def _pod_id(pod_id: str) -> int:
    if not pod_id.isascii() or not pod_id.isdigit() or len(pod_id) > 18:
        raise NotFoundException(detail=FAILURE_NOT_FOUND)
    return int(pod_id)


def _mirror_id(mirror_id: str) -> str:
    if not mirror_id.isascii() or not mirror_id.isalnum() or len(mirror_id) > 32:
        raise NotFoundException(detail=NOT_FOUND)
    return mirror_id


async def _command(
    link: BusLink, command: MirrorCommand, timeout: float | None = None
) -> Response[Any]:
    reply: Reply = await link.ask(
        bus.RPC_MIRROR_COMMAND, msgspec.json.encode(command), UNAVAILABLE, timeout
    )
    if not reply.ok:
        return reply_response(reply)
    return Response(
        content=bytes(reply.body), status_code=reply.status, media_type="application/json"
    )


class MirrorController(Controller):
    """Mirror pods: preview a fix, deploy it with a TTL, watch it, delete it."""

    path = "/api/mirror"
    tags = ["mirror"]

    @post(
        "/preview/{pod_id:str}",
        status_code=200,
        summary="Preview the fixed manifest",
        responses=declare(MirrorPreview, "The fixed manifest"),
    )
    async def preview(self, link: NamedDependency[BusLink], pod_id: FromPath[str]) -> Response[Any]:
        """The failed pod's manifest without runtime fields, with the fix applied."""
        return await _command(link, Preview(pod_id=_pod_id(pod_id)), DEPLOY_TIMEOUT)

    @post(
        "/deploy/{pod_id:str}",
        status_code=201,
        summary="Deploy a mirror pod",
        description="Creates `<name>-mirror-<id>` in the failed pod's namespace, labelled "
        "`kubeward.io/mirror=true`, deleted after `ttl_seconds`. An `Idempotency-Key` header "
        "makes a retried request return the same mirror.",
        responses={
            **declare(MirrorInfo, "Created", 201),
            **declare(MirrorInfo, "The mirror an earlier try with this Idempotency-Key made"),
        },
    )
    async def deploy(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
        data: Annotated[DeployIn | None, Body()] = None,
    ) -> Response[Any]:
        """Create the mirror pod."""
        body = data or DeployIn()
        command = Deploy(
            pod_id=_pod_id(pod_id),
            ttl_seconds=body.ttl_seconds,
            manifest=body.manifest,
            request_id=request.headers.get("idempotency-key") or uuid.uuid4().hex,
            actor=principal_of(request).username,
        )
        return await _command(link, command, DEPLOY_TIMEOUT)

    @get(
        "/status/{mirror_id:str}",
        summary="Mirror pod status",
        responses=declare(MirrorStatus, "The pod as the cluster sees it"),
    )
    async def status(
        self, link: NamedDependency[BusLink], mirror_id: FromPath[str]
    ) -> Response[Any]:
        """Phase, container states, recent events, logs tail."""
        return await _command(link, Status(mirror_id=_mirror_id(mirror_id)))

    @delete(
        "/{mirror_id:str}",
        status_code=200,
        summary="Delete a mirror pod",
        responses=declare(MirrorDeleted, "Deleted"),
    )
    async def remove(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        mirror_id: FromPath[str],
    ) -> Response[Any]:
        """Delete the pod and its record."""
        command = Delete(mirror_id=_mirror_id(mirror_id), actor=principal_of(request).username)
        return await _command(link, command)

    @get(
        "/active",
        summary="List active mirror pods",
        responses=declare(list[MirrorInfo], "Mirrors not deleted yet"),
    )
    async def active(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """Every mirror not deleted yet."""
        return await _command(link, Active())
