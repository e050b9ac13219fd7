"""``kubeward.kube`` against kmock's Kubernetes API emulator, over real HTTP.

What this proves: which cluster :func:`load_client` picks, what the calls put on the wire
(booleans spelled ``true``/``false`` as the API and the official client spell them), that
bodies come back undecoded, how failures surface (:class:`ApiException` with the API's
body, ``TimeoutError``), and that a watch is an ``async for`` on the event loop whose
cancellation closes its connection at once, with no thread. What it cannot prove: a real
API server's watch semantics (kmock ignores ``timeoutSeconds`` and resource versions).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest

from kubeward.devstack.testing import eventually
from kubeward.kube import watch as watch_module
from kubeward.kube.client import ApiException, KubeClient, is_not_found, load_client
from kubeward.kube.watch import WatchEvent, watch

NS, POD = "default", "web"
POD_PATH = f"/api/v1/namespaces/{NS}/pods/{POD}"
PODS = kmock.resource("", "v1", "pods")
WAIT = 10.0
"""Seconds any awaited condition gets before the test fails."""
PROMPTLY = 2.0
"""Seconds within which a left stream's connection must be closed (it is closed on the
spot; the bound only absorbs a loaded machine)."""


def pod(name: str) -> dict[str, Any]:
    """A pod as the API server would store it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


@pytest.fixture
async def kube(kmock_kubeconfig: str) -> AsyncIterator[KubeClient]:
    """A client configured from a kubeconfig pointing at this test's kmock."""
    client = await load_client(kmock_kubeconfig, "", 5.0, environ={})
    assert client is not None
    try:
        yield client
    finally:
        await client.close()


def new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads alive now that were not before, but the event loop's default executor's
    (``asyncio_N``): aiohttp looks up ``~/.netrc`` there for each request (``trust_env``),
    which starts a pool thread when none is idle; that thread reads no stream."""
    new = (t.name for t in threading.enumerate() if t not in before)
    return sorted(name for name in new if not name.startswith("asyncio_"))


async def until(event: asyncio.Event) -> None:
    """A kmock stream step that holds the stream until ``event`` is set (and adds nothing)."""
    await event.wait()


async def test_which_cluster(kmock_kubeconfig: str) -> None:
    assert await load_client("", "", 5.0, environ={}) is None
    client = await load_client(kmock_kubeconfig, "kmock", 5.0, environ={})
    assert client is not None
    try:
        assert client.source == f"kubeconfig {kmock_kubeconfig}"
        assert client.timeout == (5.0, 5.0)
    finally:
        await client.close()
    # In a cluster without its service account mounted: the configuration error surfaces.
    with pytest.raises(Exception, match="Service"):
        await load_client("", "", 5.0, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})


async def test_raw_is_the_undecoded_body_and_booleans_are_spelled_as_the_api_does(
    kube: KubeClient, kmock: kmock.KubernetesEmulator
) -> None:
    kmock.objects[PODS, NS, POD] = pod(POD)
    kmock[f"get {POD_PATH}/log"] << b'{"level": "info"}\n'
    body = await kube.raw(kube.core.read_namespaced_pod_log, POD, NS, previous=False)
    assert body == b'{"level": "info"}\n'  # not the client's Python repr of parsed JSON
    body = await kube.raw(kube.core.read_namespaced_pod_log, POD, NS, previous=True)
    assert body == b'{"level": "info"}\n'
    assert [r.params for r in kmock if r.subresource == "log"] == [
        {"previous": "false"},
        {"previous": "true"},
    ]
    assert (await kube.raw(kube.core.read_namespaced_pod, POD, NS)).startswith(b"{")
    assert all(r.headers["Authorization"] == "Bearer kmock-token" for r in kmock)


async def test_an_error_status_is_an_api_exception_with_the_apis_body(
    kube: KubeClient, kmock: kmock.KubernetesEmulator
) -> None:
    kmock.objects[PODS, NS, POD] = pod(POD)
    with pytest.raises(ApiException) as caught:
        await kube.raw(kube.core.read_namespaced_pod, "ghost", NS)
    assert is_not_found(caught.value)
    forbidden = {"kind": "Status", "code": 403, "message": "pods is forbidden"}
    kmock[f"get {POD_PATH}"] << 403 << forbidden
    with pytest.raises(ApiException) as caught:
        await kube.raw(kube.core.read_namespaced_pod, POD, NS)
    assert caught.value.status == 403 and not is_not_found(caught.value)
    assert caught.value.body is not None and b"pods is forbidden" in caught.value.body
    assert not is_not_found(ValueError("404"))


async def test_a_call_that_gets_no_answer_times_out(
    kmock_kubeconfig: str, kmock: kmock.KubernetesEmulator
) -> None:
    kube = await load_client(kmock_kubeconfig, "", 0.5, environ={})
    assert kube is not None
    never = asyncio.Event()
    kmock[f"get {POD_PATH}"] << (lambda: until(never))
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(kube.raw(kube.core.read_namespaced_pod, POD, NS), WAIT)
        assert asyncio.get_running_loop().time() - started < WAIT / 2
    finally:
        never.set()
        await kube.close()


async def test_a_watch_streams_events_and_its_cancellation_closes_the_connection_at_once(
    kube: KubeClient, kmock: kmock.KubernetesEmulator
) -> None:
    kmock.objects[PODS, NS, POD] = pod(POD)
    before = set(threading.enumerate())
    seen: list[WatchEvent] = []

    async def follow() -> None:
        events = watch(
            kube,
            kube.core.list_namespaced_pod,
            NS,
            resource_version="7",
            timeout_seconds=300,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                seen.append(event)

    task = asyncio.create_task(follow())
    try:
        await eventually(
            lambda: asyncio.sleep(0, len(seen)), lambda n: n == 1, WAIT, what="the first event"
        )
        assert (seen[0].type, seen[0].object["metadata"]["name"]) == ("ADDED", POD)
        # A pod created meanwhile arrives on the open stream.
        await kube.raw(kube.core.create_namespaced_pod, NS, pod("api"))
        await eventually(
            lambda: asyncio.sleep(0, [e.object["metadata"]["name"] for e in seen]),
            lambda names: names == [POD, "api"],
            WAIT,
            what="the created pod's event",
        )
        assert new_threads(before) == []  # read on the event loop
        [sent] = [r for r in kmock if r.params.get("watch") == "true"]
        assert sent.params == {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": "7",
            "timeoutSeconds": "300",
        }
        raw = sent._raw_request
        assert raw is not None and raw.transport is not None
        assert not raw.transport.is_closing()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    await eventually(
        lambda: asyncio.sleep(0, raw.transport),
        lambda transport: transport is None or transport.is_closing(),
        PROMPTLY,
        what="kmock to see the watch connection closed",
    )
    assert new_threads(before) == []


async def test_a_watch_ends_with_its_stream_and_a_silent_one_times_out(
    kube: KubeClient, kmock: kmock.KubernetesEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n'
    gone = b'{"type": "ERROR", "object": {"code": 410, "message": "too old"}}\n\n'
    ending = {"watch": "true", "timeoutSeconds": "60"}
    (
        kmock["get /api/v1/namespaces/default/pods", kmock.params(ending)]
        << (
            added[:10],  # an event split across reads is put back together
            added[10:] + gone,
        )
    )
    events = [
        (e.type, e.object)
        async for e in watch(
            kube, kube.core.list_namespaced_pod, NS, resource_version=None, timeout_seconds=60
        )
    ]
    assert events == [
        ("ADDED", {"metadata": {"name": "a"}}),
        ("ERROR", {"code": 410, "message": "too old"}),
    ]
    # A server that keeps a watch open and silent past timeoutSeconds (+ the slack): the
    # read timeout ends it.
    monkeypatch.setattr(watch_module, "READ_SLACK_SECONDS", 0.3)
    never = asyncio.Event()
    silent = {"watch": "true", "timeoutSeconds": "0"}
    kmock["get /api/v1/namespaces/default/pods", kmock.params(silent)] << (
        b"",
        lambda: until(never),
    )
    stream = watch(
        kube, kube.core.list_namespaced_pod, NS, resource_version=None, timeout_seconds=0
    )
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), WAIT)
        # The read timeout's, not wait_for's.
        assert asyncio.get_running_loop().time() - started < WAIT / 2
    finally:
        never.set()
        await stream.aclose()
