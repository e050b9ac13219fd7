"""Pod logs, as Kure serves them: one read, or a Server-Sent Events stream that follows them.

- ``GET /api/pods/{namespace}/{pod_name}/logs?container=&tail_lines=100&previous=false``
  answers Kure's ``{pod_name, namespace, container, containers, logs, tail_lines,
  previous}``. Without ``container`` the pod's first container is read; ``containers``
  lists the regular, init and ephemeral containers. A log the API cannot give (no previous
  instance, a container still waiting) is Kure's ``"[No logs available: <why>]"``.
- ``GET /api/pods/{namespace}/{pod_name}/logs/stream?container=&tail_lines=100`` follows the
  log (``follow=true``) as ``text/event-stream``: ``data: <line>`` per log line, a
  ``: heartbeat`` comment after ``log_stream_heartbeat_seconds`` of silence, ``data: [Error:
  <why>]`` when the API breaks the stream, and the end of the response when the log ends.
  Browsers' ``EventSource`` cannot send headers, so ``?token=<SERVICE_TOKEN>`` works here.

The pod is read first (404 ``Pod 'p' not found in namespace 'ns'``, 404 for a container it
does not have); bad names and ``tail_lines`` outside 1..10000 are 400s. Without a cluster
both answer ``503 {"detail": "Kubernetes client not available"}``.

A followed log is an ``async for`` over the API's streamed response (``kubernetes_asyncio``,
aiohttp), on the event loop: no thread. When the client goes away the response generator is
cancelled or closed, and its ``finally`` closes the API connection at once. Each read waits
for the client to take the previous batch, so a slow client slows the reading, not the
gateway's memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import aiohttp
import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from kubeward.gateway.kube import NOT_AVAILABLE, api_error, api_message, require_kube
from kubeward.gateway.settings import Settings
from kubeward.kube.client import CALL_ERRORS, TRANSPORT_ERRORS, ApiException, KubeClient

log = logging.getLogger(__name__)

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: namespaces and container names (at most 63 characters)."""
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain: pod names (at most 253 characters)."""
MAX_TAIL_LINES = 10000
READ_SIZE = 64 * 1024
"""Bytes asked of the socket per read of a followed log."""
MAX_LINE = 1024 * 1024
"""A longer run of bytes without a newline is sent as a line of its own."""
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
HEARTBEAT = b": heartbeat\n\n"
STREAM_ERRORS: tuple[type[Exception], ...] = (*TRANSPORT_ERRORS, ValueError)
"""How reading a followed log can break (aiohttp's payload errors are ``ClientError``s)."""
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_NAME_LIMITS = (
    ("namespace", DNS_LABEL, 63),
    ("pod_name", DNS_SUBDOMAIN, 253),
    ("container", DNS_LABEL, 63),
)

Namespace = Annotated[
    str,
    PathParameter(pattern=DNS_LABEL, max_length=63, description="Namespace (RFC 1123 label)"),
]
PodName = Annotated[
    str,
    PathParameter(
        pattern=DNS_SUBDOMAIN, max_length=253, description="Pod name (RFC 1123 subdomain)"
    ),
]
Container = Annotated[
    str | None,
    QueryParameter(
        pattern=DNS_LABEL,
        max_length=63,
        description="Container name; default: the pod's first container",
    ),
]
TailLines = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_TAIL_LINES, description="Lines from the end of the log to return"),
]
Previous = Annotated[
    bool, QueryParameter(description="The log of the container's previous instance")
]


class PodLogs(msgspec.Struct, kw_only=True):
    """Kure's answer to ``GET /api/pods/{namespace}/{pod_name}/logs``."""

    pod_name: str
    namespace: str
    container: str
    containers: list[str]
    """Regular, then init, then ephemeral containers."""
    logs: str
    tail_lines: int
    previous: bool


class _Named(msgspec.Struct):
    name: str = ""


class _PodSpec(msgspec.Struct, rename="camel"):
    containers: list[_Named] = []
    init_containers: list[_Named] | None = None
    ephemeral_containers: list[_Named] | None = None


class _Pod(msgspec.Struct):
    spec: _PodSpec = msgspec.field(default_factory=_PodSpec)


_pod = msgspec.json.Decoder(_Pod)


def _responses() -> dict[int, ResponseSpec]:
    """The error answers of both endpoints, for the OpenAPI document."""

    def spec(description: str, detail: str) -> ResponseSpec:
        return ResponseSpec(
            data_container=dict[str, str],
            description=description,
            examples=[Example(value={"detail": detail})],
        )

    return {
        400: spec("A name or tail_lines is invalid", "tail_lines: must be 1..10000"),
        404: spec("No such pod or container", "Pod 'web' not found in namespace 'default'"),
        502: spec("The Kubernetes API refused or failed", "The Kubernetes API refused ..."),
        503: spec("No cluster configured, or the API is unreachable", NOT_AVAILABLE),
        504: spec("The Kubernetes API did not answer in time", "The Kubernetes API ..."),
    }


def _check_names(**values: str | None) -> None:
    """400 unless each given name is a valid Kubernetes name (``re.fullmatch``, length).

    The route's parameter patterns already refuse most; ``$`` there would still let a
    trailing newline through.
    """
    for field, pattern, limit in _NAME_LIMITS:
        value = values.get(field)
        if value is None:
            continue
        if len(value) > limit or not re.fullmatch(pattern.strip("^$"), value):
            raise ClientException(
                detail=f"{field}: {value!r} is not a valid Kubernetes name "
                f"(lower-case RFC 1123, at most {limit} characters)"
            )


def _not_found(namespace: str, pod_name: str) -> str:
    return f"Pod '{pod_name}' not found in namespace '{namespace}'"


async def _target(
    kube: KubeClient, namespace: str, pod_name: str, container: str | None
) -> tuple[str, list[str]]:
    """The container to read (asked for, or the pod's first) and all the pod's containers."""
    try:
        raw = await kube.raw(kube.core.read_namespaced_pod, pod_name, namespace)
    except CALL_ERRORS as exc:
        raise api_error(exc, _not_found(namespace, pod_name)) from None
    try:
        spec = _pod.decode(raw).spec
    except msgspec.DecodeError:
        raise HTTPException(
            status_code=502, detail="The Kubernetes API answered an unreadable pod"
        ) from None
    regular = [c.name for c in spec.containers]
    everything = regular + [
        c.name for c in (spec.init_containers or []) + (spec.ephemeral_containers or [])
    ]
    target = container or (regular[0] if regular else None)
    if target is None:
        raise ClientException(detail="No containers found in pod")
    if target not in everything:
        raise HTTPException(
            status_code=404,
            detail=f"Container '{target}' not found. Available: {', '.join(everything)}",
        )
    return target, everything


def sse_event(line: str) -> bytes:
    """One log line as an SSE ``data:`` event (a CR inside the line becomes a new field)."""
    return ("".join(f"data: {part}\n" for part in _LINE_BREAK.split(line)) + "\n").encode()


async def log_events(
    response: aiohttp.ClientResponse, heartbeat: float, name: str
) -> AsyncGenerator[bytes, None]:
    """The SSE body of a followed log: its lines as events, heartbeats while it is quiet.

    Reads ``response`` directly, one read per event batch: the next read waits until the
    client took the last batch, so a slow client slows the reading (aiohttp stops reading
    the socket once its buffer is full), not the gateway's memory. Ends with the log, or
    with ``[Error: <why>]`` when the stream breaks. Leaving it (the end, the client gone,
    cancellation) closes the response: the connection to the API drops at once.
    """
    read: asyncio.Future[bytes] | None = None
    pending = b""
    try:
        while True:
            if read is None:
                read = asyncio.ensure_future(response.content.read(READ_SIZE))
            # The read is waited on, never cancelled by the heartbeat: no byte is lost.
            done, _ = await asyncio.wait((read,), timeout=heartbeat)
            if not done:
                yield HEARTBEAT
                continue
            try:
                data = read.result()
            except STREAM_ERRORS as exc:
                log.info("log stream %s broke: %r", name, exc)
                yield sse_event("[Error: the log stream from the Kubernetes API was interrupted]")
                return
            finally:
                read = None
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            if len(pending) > MAX_LINE:
                lines.append(pending)
                pending = b""
            if lines:
                yield b"".join(sse_event(_decode(line)) for line in lines)
        if pending:
            yield sse_event(_decode(pending))
    except Exception:  # a bug: say so on the stream rather than cut it without a word
        log.exception("log stream %s failed", name)
        yield sse_event("[Error: the gateway failed to read the log]")
    finally:
        if read is not None:
            read.cancel()
        response.close()


def _decode(line: bytes) -> str:
    return line.removesuffix(b"\r").decode("utf-8", errors="replace")


RESERVED_NAMESPACES = ("failed", "ignored", "records")
"""Namespaces whose names are static segments of the failure routes."""


async def read_logs(
    kube: KubeClient | None,
    namespace: Namespace,
    pod_name: PodName,
    container: Container = None,
    tail_lines: TailLines = 100,
    previous: Previous = False,
) -> PodLogs:
    """Kure's log answer for one pod; a log the API cannot give is
    ``[No logs available: <why>]``."""
    _check_names(namespace=namespace, pod_name=pod_name, container=container)
    client = require_kube(kube)
    target, containers = await _target(client, namespace, pod_name, container)
    try:
        raw = await client.raw(
            client.core.read_namespaced_pod_log,
            pod_name,
            namespace,
            container=target,
            tail_lines=tail_lines,
            previous=previous,
        )
        logs = raw.decode("utf-8", errors="replace")
    except ApiException as exc:
        if exc.status != 400:
            raise api_error(exc, _not_found(namespace, pod_name)) from None
        logs = f"[No logs available: {api_message(exc)}]"
    except TRANSPORT_ERRORS as exc:
        raise api_error(exc, _not_found(namespace, pod_name)) from None
    return PodLogs(
        pod_name=pod_name,
        namespace=namespace,
        container=target,
        containers=containers,
        logs=logs,
        tail_lines=tail_lines,
        previous=previous,
    )


async def follow_logs(
    kube: KubeClient | None,
    settings: Settings,
    namespace: Namespace,
    pod_name: PodName,
    container: Container = None,
    tail_lines: TailLines = 100,
) -> Stream:
    """Follow the log; a log the API will not open yet is one ``[Error: <why>]`` event."""
    _check_names(namespace=namespace, pod_name=pod_name, container=container)
    client = require_kube(kube)
    target, _ = await _target(client, namespace, pod_name, container)

    try:
        # No read timeout once open: a quiet log must not end the stream (the headers
        # still get the client's read timeout).
        response = await client.open(
            client.core.read_namespaced_pod_log,
            pod_name,
            namespace,
            container=target,
            follow=True,
            tail_lines=tail_lines,
            read_timeout=None,
        )
    except ApiException as exc:
        if exc.status != 400:
            raise api_error(exc, _not_found(namespace, pod_name)) from None
        return Stream(
            [sse_event(f"[Error: {api_message(exc)}]")],
            media_type="text/event-stream",
            headers=STREAM_HEADERS,
        )
    except TRANSPORT_ERRORS as exc:
        raise api_error(exc, _not_found(namespace, pod_name)) from None
    events = log_events(
        response, settings.log_stream_heartbeat_seconds, f"{namespace}/{pod_name}/{target}"
    )
    # Should the response never be iterated (the client left before it started), the
    # generator's finally never runs: close the connection when the generator is collected.
    weakref.finalize(events, response.close)
    return Stream(events, media_type="text/event-stream", headers=STREAM_HEADERS)


class PodLogsController(Controller):
    """Kure's pod log endpoints, read from the Kubernetes API."""

    path = "/api/pods"
    opt = {"service": True}
    tags = ["pods"]

    @get(
        "/{namespace:str}/{pod_name:str}/logs",
        summary="Get a pod's logs",
        description="The last tail_lines lines of a container's log (previous=true: of its "
        "previous instance).",
        responses=_responses(),
    )
    async def get_logs(
        self,
        kube: NamedDependency[KubeClient | None],
        namespace: Namespace,
        pod_name: PodName,
        container: Container = None,
        tail_lines: TailLines = 100,
        previous: Previous = False,
    ) -> PodLogs:
        """See :func:`read_logs`."""
        return await read_logs(kube, namespace, pod_name, container, tail_lines, previous)

    @get(
        "/{namespace:str}/{pod_name:str}/logs/stream",
        opt={"stream": True},
        media_type="text/event-stream",
        summary="Follow a pod's logs (Server-Sent Events)",
        description="data: <line> per log line, ': heartbeat' comments while quiet; ends when "
        "the log ends. Authenticate with the session cookie or ?token=<SERVICE_TOKEN>.",
        responses=_responses(),
    )
    async def stream_logs(
        self,
        kube: NamedDependency[KubeClient | None],
        settings: NamedDependency[Settings],
        namespace: Namespace,
        pod_name: PodName,
        container: Container = None,
        tail_lines: TailLines = 100,
    ) -> Stream:
        """See :func:`follow_logs`."""
        return await follow_logs(kube, settings, namespace, pod_name, container, tail_lines)

    # Namespaces named like the failure routes' static segments (``/api/pods/failed/...``,
    # ``/api/pods/ignored/...``) would never reach the handlers above: the router prefers
    # the static segment and does not backtrack. These take their logs explicitly.

    @get(
        [f"/{ns}/{{pod_name:str}}/logs" for ns in RESERVED_NAMESPACES],
        include_in_schema=False,
    )
    async def get_logs_reserved(
        self,
        request: Request[Any, Any, State],
        kube: NamedDependency[KubeClient | None],
        pod_name: PodName,
        container: Container = None,
        tail_lines: TailLines = 100,
        previous: Previous = False,
    ) -> PodLogs:
        """:meth:`get_logs` for a namespace named ``failed`` or ``ignored``."""
        namespace = request.url.path.split("/")[3]
        return await read_logs(kube, namespace, pod_name, container, tail_lines, previous)

    @get(
        [f"/{ns}/{{pod_name:str}}/logs/stream" for ns in RESERVED_NAMESPACES],
        opt={"stream": True},
        media_type="text/event-stream",
        include_in_schema=False,
    )
    async def stream_logs_reserved(
        self,
        request: Request[Any, Any, State],
        kube: NamedDependency[KubeClient | None],
        settings: NamedDependency[Settings],
        pod_name: PodName,
        container: Container = None,
        tail_lines: TailLines = 100,
    ) -> Stream:
        """:meth:`stream_logs` for a namespace named ``failed`` or ``ignored``."""
        namespace = request.url.path.split("/")[3]
        return await follow_logs(kube, settings, namespace, pod_name, container, tail_lines)
