"""kguardian's inventory routes, as its controller, UI, advisor and llm-bridge call them.

Writes (the controller): ``POST /pod/spec``, ``/svc/spec``, ``/pod/mark_dead``,
``/pod/syscalls`` go through ingest and the bus like every collector input and answer
after the write, with the broker's answers. Reads: ``GET /pod/info``, ``/svc/info``,
``/pod/name/{name}``, ``/pod/ip/{ip}`` (``?at=``), ``/svc/ip/{ip}``, ``/pod/list/{node}``,
``/pod/syscalls/{name}``, ``/version``, answered by traffic-store in the broker's shapes;
"nothing there" is the broker's 404 with the plain-text body ``No data found``.
"""

from __future__ import annotations

import ipaddress
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import reply_response
from kubeward.gateway.params import iso_time
from kubeward.gateway.request_bodies import documented
from kubeward.gateway.responses import KguardianVersion, declare
from kubeward.schemas import bus
from kubeward.schemas.inventory import (
    InventoryLookup,
    InventoryQuery,
    MarkDead,
    PodDetail,
    PodSyscalls,
    PodSyscallsRow,
    SvcDetail,
)

NO_DATA = b"No data found"
_EMPTY_ARRAY = re.compile(rb"[ \t\r\n]*\[[ \t\r\n]*\][ \t\r\n]*")
READ = {"service": True, "kguardian": "read"}
INGEST = {"service": True, "kguardian": "ingest"}


def no_data_response() -> Response[bytes]:
    """The broker's 404: ``No data found`` as plain text."""
    return Response(content=NO_DATA, status_code=404, media_type="text/plain; charset=utf-8")


async def _write(link: BusLink, subject: str, body: bytes) -> Response[Any]:
    reply = await link.collect(subject, body)
    if not reply.ok:
        return reply_response(reply)
    return Response(content=bytes(reply.body), media_type="application/json")


async def _read(link: BusLink, query: InventoryQuery) -> Response[Any]:
    reply = await link.ask(
        bus.RPC_INVENTORY, msgspec.json.encode(query), "Traffic store is not available"
    )
    if reply.status == 404:
        return no_data_response()
    if not reply.ok:
        return reply_response(reply)
    return Response(content=bytes(reply.body), media_type="application/json")


def _lookup(lookup: InventoryLookup, key: str = "", at: str | None = None) -> InventoryQuery:
    return InventoryQuery(lookup=lookup, key=key, at=at)


async def _object_body(request: Request[Any, Any, State], what: str) -> bytes:
    body = await request.body()
    if body.lstrip()[:1] != b"{":
        raise ClientException(detail=f"Expected one JSON object ({what})")
    return body


class KguardianController(Controller):
    """The kguardian broker's inventory API."""

    tags = ["kguardian inventory"]

    @post(
        "/pod/spec",
        dependencies=documented(PodDetail),
        status_code=200,
        opt=INGEST,
        summary="Store a pod's spec (controller)",
        responses=declare(PodDetail, "The pod as stored"),
    )
    async def pod_spec(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Upsert a ``PodDetail``; answers it as stored (IPs canonical, manifest slimmed)."""
        body = await _object_body(request, "a PodDetail")
        return await _write(link, bus.COLLECT_POD_SPEC, body)

    @post(
        "/svc/spec",
        dependencies=documented(SvcDetail),
        status_code=200,
        opt=INGEST,
        summary="Store a Service (controller)",
        responses=declare(SvcDetail, "The Service as stored"),
    )
    async def svc_spec(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """Upsert a ``SvcDetail`` keyed by cluster IP; answers it as stored."""
        body = await _object_body(request, "a SvcDetail")
        return await _write(link, bus.COLLECT_SVC_SPEC, body)

    @post(
        "/pod/mark_dead",
        dependencies=documented(MarkDead),
        status_code=200,
        opt=INGEST,
        summary="Mark a pod dead (controller)",
        responses=declare(int, "Pods marked dead (0 or 1)"),
    )
    async def mark_dead(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """``{"pod_name", "pod_ip"?}``; answers the number of pods marked (0 or 1)."""
        body = await _object_body(request, '{"pod_name", "pod_ip"}')
        return await _write(link, bus.COLLECT_POD_DEAD, body)

    @post(
        "/pod/syscalls",
        dependencies=documented(list[PodSyscalls]),
        status_code=200,
        opt=INGEST,
        summary="Store pods' syscalls",
        responses=declare(type(None), "null"),
    )
    async def syscalls(
        self, request: Request[Any, Any, State], link: NamedDependency[BusLink]
    ) -> Response[Any]:
        """A JSON array of ``PodInputSyscalls``; answers ``null``."""
        body = await request.body()
        if body.lstrip()[:1] != b"[":
            raise ClientException(detail="Expected a JSON array of pod syscalls")
        if _EMPTY_ARRAY.fullmatch(body):
            return Response(content=b"null", media_type="application/json")
        return await _write(link, bus.COLLECT_POD_SYSCALLS, body)

    @get(
        "/pod/info",
        opt=READ,
        summary="Every known pod",
        responses=declare(list[PodDetail], "Every pod"),
    )
    async def pods(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """Pods ordered by namespace (null last) and name; ``[]`` when there are none."""
        return await _read(link, _lookup("pods"))

    @get(
        "/svc/info",
        opt=READ,
        summary="Every known Service",
        responses=declare(list[SvcDetail], "Every Service"),
    )
    async def services(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """Services ordered by namespace, name and IP; ``[]`` when there are none."""
        return await _read(link, _lookup("services"))

    @get(
        "/pod/name/{name:str}",
        opt=READ,
        summary="A pod by name",
        responses=declare(PodDetail, "The pod"),
    )
    async def pod_by_name(
        self, link: NamedDependency[BusLink], name: FromPath[str]
    ) -> Response[Any]:
        """The pod, or 404 ``No data found``."""
        return await _read(link, _lookup("pod-by-name", name))

    @get(
        "/pod/ip/{ip:str}",
        opt=READ,
        summary="The pod holding (or that held) an IP",
        responses=declare(PodDetail, "The pod"),
    )
    async def pod_by_ip(
        self, link: NamedDependency[BusLink], ip: FromPath[str], at: FromQuery[str | None] = None
    ) -> Response[Any]:
        """Without ``at``: the live holder, else the most recently seen. With ``at``
        (ISO 8601, naive = UTC): the pod that held the IP at that time."""
        when = iso_time("at", at) if at and at.strip() else None
        return await _read(link, _lookup("pod-by-ip", _canonical(ip), when))

    @get(
        "/svc/ip/{ip:str}",
        opt=READ,
        summary="A Service by cluster IP",
        responses=declare(SvcDetail, "The Service"),
    )
    async def svc_by_ip(self, link: NamedDependency[BusLink], ip: FromPath[str]) -> Response[Any]:
        """The Service, or 404 ``No data found``."""
        return await _read(link, _lookup("svc-by-ip", _canonical(ip)))

    @get(
        "/pod/list/{node:str}",
        opt=READ,
        summary="Live pods on a node",
        responses=declare(list[PodDetail], "The node's live pods"),
    )
    async def pods_on_node(
        self, link: NamedDependency[BusLink], node: FromPath[str]
    ) -> Response[Any]:
        """Live pods on ``node`` (``[]`` when none: the controller's reconciler reads it)."""
        return await _read(link, _lookup("pods-on-node", node))

    @get(
        "/pod/syscalls/{name:str}",
        opt=READ,
        summary="A pod's syscalls",
        responses=declare(list[PodSyscallsRow], "The pod's syscall row (or none)"),
    )
    async def pod_syscalls(
        self, link: NamedDependency[BusLink], name: FromPath[str]
    ) -> Response[Any]:
        """``[{pod_name, pod_namespace, syscalls: "a,b,c", arch, time_stamp}]``."""
        return await _read(link, _lookup("syscalls", name))

    @get(
        "/version",
        opt=READ,
        summary="Versions (kguardian's /version shape)",
        responses=declare(KguardianVersion, "Versions"),
    )
    async def version(self) -> dict[str, Any]:
        """``broker`` is kubeward's version; no update check is ever made."""
        return {
            "broker": _version(),
            "chart": "unknown",
            "telemetry_enabled": False,
            "latest": None,
            "checked_at": None,
            "update_available": False,
        }


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return ip


def _version() -> str:
    try:
        return version("kubeward-gateway")
    except PackageNotFoundError:
        return "0.1.0"
