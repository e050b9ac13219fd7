"""Pod logs (``/api/pods/{ns}/{pod}/logs`` and ``.../logs/stream``) against kmock, over HTTP.

The gateway runs for real (uvicorn on a free port, real NATS/MongoDB/Redis); its
``kubernetes_asyncio`` client talks HTTP to kmock's Kubernetes emulator through a kubeconfig
(``kube_gateway`` in conftest.py). Nothing of the client is mocked. What this proves: the
requests the client sends (path, query), how answers and API errors become Kure's bodies,
incremental SSE delivery, and that a followed log's upstream connection ends when the client
leaves, with no thread involved. What it cannot prove: kubelet log semantics (kmock serves
whatever bytes a test scripts, whatever ``tailLines``/``previous``/``follow`` say).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import kmock
import pytest

from kubeward.devstack.testing import eventually

TOKEN = "svc-token"  # as in conftest.py
ADMIN = {"username": "root", "password": "correct horse battery"}
NS, POD = "default", "web"
POD_PATH = f"/api/v1/namespaces/{NS}/pods/{POD}"
LOGS = f"/api/pods/{NS}/{POD}/logs"
STREAM = f"{LOGS}/stream"
HEARTBEAT_SECONDS = 0.2
WAIT = 10.0
"""Seconds any awaited condition gets before the test fails."""

KubeGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
PODS = kmock.resource("", "v1", "pods")


def add_pod(
    k: kmock.KubernetesEmulator,
    containers: list[str],
    init: list[str] | None = None,
    name: str = POD,
) -> None:
    """Store a pod in the emulator, as the API server would serve it."""
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    k.objects[PODS, NS, name] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def status(code: int, message: str) -> dict[str, Any]:
    """A Kubernetes ``Status`` error body."""
    return {"kind": "Status", "status": "Failure", "code": code, "message": message}


async def until(event: asyncio.Event) -> None:
    """A kmock stream step that holds the stream until ``event`` is set (and adds nothing)."""
    await event.wait()


def log_requests(k: kmock.KubernetesEmulator) -> list[kmock.Request]:
    """The log requests the emulator received, oldest first."""
    return [r for r in k if r.subresource == "log"]


@pytest.fixture
async def kube_admin(kube_gateway: KubeGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The initial admin, logged in to a gateway whose cluster is kmock."""
    async with kube_gateway(log_stream_heartbeat_seconds=HEARTBEAT_SECONDS) as client:
        resp = await client.post("/api/auth/signup", json=ADMIN)
        assert resp.status_code == 201
        yield client


async def test_logs_pass_container_tail_and_previous_through(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app", "sidecar"], init=["migrate"])
    # Log text that parses as JSON must come back verbatim (the client's own decoding would
    # have turned it into a Python repr).
    kmock[f"get {POD_PATH}/log", kmock.params(container="sidecar")] << b'{"level": "info"}\n'
    kmock[f"get {POD_PATH}/log"] << b"one\ntwo\n"

    resp = await kube_admin.get(
        LOGS, params={"container": "sidecar", "tail_lines": 5, "previous": "true"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "pod_name": POD,
        "namespace": NS,
        "container": "sidecar",
        "containers": ["app", "sidecar", "migrate"],
        "logs": '{"level": "info"}\n',
        "tail_lines": 5,
        "previous": True,
    }
    # Defaults, as Kure's: the first container, 100 lines, the current instance.
    resp = await kube_admin.get(LOGS)
    assert resp.status_code == 200, resp.text
    assert resp.json()["container"] == "app"
    assert resp.json()["logs"] == "one\ntwo\n"
    assert (resp.json()["tail_lines"], resp.json()["previous"]) == (100, False)

    sent = [r.params for r in log_requests(kmock)]
    assert sent == [
        {"container": "sidecar", "tailLines": "5", "previous": "true"},
        {"container": "app", "tailLines": "100", "previous": "false"},
    ]
    assert all(r.headers["Authorization"] == "Bearer kmock-token" for r in kmock)
    # The service token reads logs too (the agent's and scanner's credential).
    async with httpx.AsyncClient(base_url=str(kube_admin.base_url)) as svc:
        resp = await svc.get(LOGS, headers={"X-Service-Token": TOKEN})
    assert resp.status_code == 200, resp.text


async def test_a_log_the_api_cannot_give_is_kures_placeholder(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"])
    why = 'previous terminated container "app" in pod "web" not found'
    kmock[f"get {POD_PATH}/log"] << 400 << status(400, why)
    resp = await kube_admin.get(LOGS, params={"previous": "true"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["logs"] == f"[No logs available: {why}]"
    # The stream says so as Kure's error event, then ends.
    resp = await kube_admin.get(STREAM)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.text == f"data: [Error: {why}]\n\n"


async def test_unknown_pod_or_container_is_404(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"], init=["migrate"])
    for path in (f"/api/pods/{NS}/ghost/logs", f"/api/pods/{NS}/ghost/logs/stream"):
        resp = await kube_admin.get(path)
        assert resp.status_code == 404, resp.text
        assert resp.json() == {"detail": f"Pod 'ghost' not found in namespace '{NS}'"}
    for path in (LOGS, STREAM):
        resp = await kube_admin.get(path, params={"container": "db"})
        assert resp.status_code == 404, resp.text
        assert resp.json() == {"detail": "Container 'db' not found. Available: app, migrate"}
    assert log_requests(kmock) == []  # never asked for a log the pod does not have


async def test_bad_parameters_are_400_and_never_reach_the_api(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"])
    bad: list[tuple[str, dict[str, str]]] = [
        (LOGS, {"tail_lines": "0"}),
        (LOGS, {"tail_lines": "10001"}),
        (LOGS, {"tail_lines": "many"}),
        (LOGS, {"previous": "perhaps"}),
        (LOGS, {"container": "App_1"}),
        (LOGS, {"container": "a" * 64}),
        (LOGS, {"container": "app\n"}),
        (STREAM, {"tail_lines": "0"}),
        (STREAM, {"container": "-app"}),
        (f"/api/pods/Default/{POD}/logs", {}),
        (f"/api/pods/{NS}/web_1/logs/stream", {}),
    ]
    for path, params in bad:
        resp = await kube_admin.get(path, params=params)
        assert resp.status_code == 400, (path, params, resp.text)
        assert resp.json()["detail"], (path, params)
    assert len(kmock) == 0  # refused before any call to the API
    for tail in ("1", "10000"):  # the bounds themselves are fine
        kmock[f"get {POD_PATH}/log"] << b"x\n"
        resp = await kube_admin.get(LOGS, params={"tail_lines": tail})
        assert resp.status_code == 200, resp.text


async def test_the_api_refusing_the_gateway_is_a_502_with_its_reason(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    why = 'pods "web" is forbidden: User "system:serviceaccount:kubeward:gateway" cannot get'
    kmock[f"get {POD_PATH}"] << 403 << status(403, why)
    for path in (LOGS, STREAM):
        resp = await kube_admin.get(path)
        assert resp.status_code == 502, resp.text
        assert resp.json() == {
            "detail": f"The Kubernetes API refused the gateway's request (403): {why}"
        }


async def test_without_a_cluster_both_answer_503(
    gateway: Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not even in-cluster
    async with gateway() as client:
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        for path in (LOGS, STREAM):
            resp = await client.get(path, params={"container": "app", "tail_lines": 10})
            assert resp.status_code == 503, resp.text
            assert resp.json() == {"detail": "Kubernetes client not available"}


async def test_without_credentials_401(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"])
    async with httpx.AsyncClient(base_url=str(kube_admin.base_url)) as anon:
        for path, params in (
            (LOGS, {}),
            (LOGS, {"token": TOKEN}),  # ?token= is for streams only
            (STREAM, {}),
            (STREAM, {"token": "not-the-token"}),
        ):
            resp = await anon.get(path, params=params)
            assert resp.status_code == 401, (path, params, resp.text)
            assert resp.json() == {"detail": "Not authenticated"}
    assert len(kmock) == 0


class SSEReader:
    """Reads an SSE response in the background; tests wait on what has arrived."""

    def __init__(self, response: httpx.Response) -> None:
        self.text = ""
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        try:
            async for chunk in response.aiter_text():
                self.text += chunk
        finally:
            self.ended.set()

    async def wait_for(self, fragment: str) -> None:
        """Until ``fragment`` has arrived."""
        await eventually(
            self._snapshot, lambda text: fragment in text, WAIT, what=f"{fragment!r} in the stream"
        )

    async def _snapshot(self) -> str:
        return self.text

    async def stop(self) -> None:
        """Stop reading (the response is closed by its context manager)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_stream_delivers_lines_as_they_come_with_token_and_heartbeats(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"])
    second, end = asyncio.Event(), asyncio.Event()
    kmock[f"get {POD_PATH}/log"] << (
        b"first\n",
        lambda: until(second),
        b"second\r\nthird, ",
        lambda: until(end),
        b"no newline at the end",
    )
    # EventSource sends no headers and, from another origin, no cookie: ?token= it is.
    async with (
        httpx.AsyncClient(base_url=str(kube_admin.base_url), timeout=WAIT) as browser,
        browser.stream(
            "GET", STREAM, params={"container": "app", "tail_lines": 10, "token": TOKEN}
        ) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        reader = SSEReader(resp)
        try:
            await reader.wait_for("data: first\n\n")
            # While the log is quiet: heartbeats, and nothing of what kmock holds back.
            await reader.wait_for(": heartbeat\n\n")
            assert "second" not in reader.text
            second.set()
            await reader.wait_for("data: second\n\n")
            assert "third" not in reader.text  # a partial line waits for its newline...
            end.set()
            await asyncio.wait_for(reader.ended.wait(), WAIT)  # ...or for the log's end
        finally:
            await reader.stop()
    events = [e for e in reader.text.split("\n\n") if e and not e.startswith(":")]
    assert events == [
        "data: first",
        "data: second",
        "data: third, no newline at the end",
    ]
    [sent] = log_requests(kmock)
    assert sent.params == {"container": "app", "follow": "true", "tailLines": "10"}


PROMPTLY = 2.0
"""Seconds within which a left stream's API connection must be closed (it is closed on the
spot; the bound only absorbs a loaded machine)."""


def new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads alive now that were not before (the gateway reads logs on the event loop)."""
    return sorted(t.name for t in threading.enumerate() if t not in before)


async def test_stream_ends_upstream_when_the_client_disconnects(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    add_pod(kmock, ["app"])
    never = asyncio.Event()  # the container keeps running: the log never ends by itself
    kmock[f"get {POD_PATH}/log"] << (b"hello\n", lambda: until(never))
    before = set(threading.enumerate())
    try:
        async with kube_admin.stream("GET", STREAM) as resp:  # the session cookie works too
            assert resp.status_code == 200
            reader = SSEReader(resp)
            try:
                await reader.wait_for("data: hello\n\n")
                assert new_threads(before) == []  # no thread per followed log
                [sent] = log_requests(kmock)
                raw = sent._raw_request
                assert raw is not None
                assert raw.transport is not None and not raw.transport.is_closing()
            finally:
                await reader.stop()
        # The client is gone: the gateway's API connection is closed at once.
        await eventually(
            lambda: asyncio.sleep(0, raw.transport),
            lambda transport: transport is None or transport.is_closing(),
            PROMPTLY,
            what="kmock to see the log connection closed",
        )
        assert new_threads(before) == []
    finally:
        never.set()  # let kmock's handler finish


async def test_a_client_that_does_not_read_stops_the_reading_of_the_log(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    """Back-pressure: the gateway reads the API's stream only as fast as its client takes
    the events, so a stalled client holds a bounded amount of the log in memory."""
    add_pod(kmock, ["app"])
    chunk = (b"x" * 1023 + b"\n") * 256  # 256 KiB of 1 KiB lines
    total = 512  # 128 MiB: far more than every buffer on the way can hold (~13 MiB here)
    produced = 0

    def log() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(total):
            produced += 1
            yield chunk

    kmock[f"get {POD_PATH}/log"] << log()
    async with kube_admin.stream("GET", STREAM) as resp:
        assert resp.status_code == 200
        body = resp.aiter_raw()  # held: a dropped iterator would close the response
        first = await anext(body)  # then the client reads nothing more
        assert first.startswith(b"data: xxx")
        # The stream stalls: kmock can send no more once the buffers on the way are full.
        counts: list[int] = []

        async def settled() -> list[int]:
            counts.append(produced)
            return counts[-4:]

        last = await eventually(
            settled,
            lambda seen: len(seen) == 4 and len(set(seen)) == 1,
            WAIT,
            interval=0.25,
            what="the log's reading to stall",
        )
        [sent] = log_requests(kmock)
        raw = sent._raw_request
        assert raw is not None
        assert raw.transport is not None and not raw.transport.is_closing()  # held, not cut
        assert last[0] * len(chunk) < 40 * 1024 * 1024, last  # bounded, not 128 MiB


@pytest.mark.parametrize("namespace", ["failed", "ignored"])
async def test_namespaces_named_like_failure_routes_get_their_logs(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator, namespace: str
) -> None:
    kmock.objects[PODS, namespace, POD] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    kmock[f"get /api/v1/namespaces/{namespace}/pods/{POD}/log"] << b"hello\n"
    resp = await kube_admin.get(f"/api/pods/{namespace}/{POD}/logs")
    assert resp.status_code == 200, resp.text
    assert (resp.json()["namespace"], resp.json()["logs"]) == (namespace, "hello\n")
    resp = await kube_admin.get(f"/api/pods/{namespace}/{POD}/logs/stream")
    assert resp.status_code == 200, resp.text
    assert "data: hello" in resp.text
