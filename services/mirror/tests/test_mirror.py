"""The mirror service through the bus: ingest, failure-analyzer and mirror in-process on real
nats-server and MongoDB (SecantusDB); the kubernetes_asyncio client against kmock's emulator.

kmock stores what the client creates and records every request; it has no scheduler or
kubelet, so a pod's phase and container states are set in the test where one is needed.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import kmock
import msgspec
import pytest
import yaml
from nats.aio.client import Client as NATS

from kubeward.core import mongo
from kubeward.core.app_settings import AppSettings
from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.fake_llm import serve_fake_llm
from kubeward.devstack.testing import eventually, stored_messages
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.settings import Settings as AnalyzerSettings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.kube.client import load_client
from kubeward.mirror.admin_settings import llm_config
from kubeward.mirror.app import mirror
from kubeward.mirror.commands import Commands, mirror_name
from kubeward.mirror.settings import Settings
from kubeward.mirror.status_watch import StatusWatch
from kubeward.mirror.store import MirrorStore, now
from kubeward.schemas import bus
from kubeward.schemas.mirror import Active, Delete, Deploy, Preview, Status
from kubeward.schemas.pod_failures import FailureQuery, PodFailure
from kubeward.schemas.replies import Reply
from kubeward.schemas.settings import LLM_CONFIG, LLMConfig

SECRET = "mirror-test-secret"
NS = "shop"
PODS = kmock.resource("", "v1", "pods")
EVENTS = kmock.resource("", "v1", "events")
MANIFEST: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "orders-6c8d9f7b5-kq2lp",
        "generateName": "orders-6c8d9f7b5-",
        "namespace": NS,
        "uid": "0f9c2d7e-1b1a-4b8e-9a55-2f6c1d0e9b11",
        "resourceVersion": "48213",
        "creationTimestamp": "2026-11-20T08:15:00Z",
        "labels": {"app": "orders", "pod-template-hash": "6c8d9f7b5"},
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "orders-6c8d9f7b5", "uid": "x"}
        ],
        "managedFields": [{"manager": "kube-controller-manager"}],
    },
    "spec": {
        "nodeName": "worker-2",
        "containers": [
            {
                "name": "orders",
                "image": "registry.acme.io/shop/orders:2.3.1",
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}},
                "volumeMounts": [
                    {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/x"}
                ],
            }
        ],
        "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": []}}],
    },
    "status": {"phase": "Running"},
}
REPORT: dict[str, Any] = {
    "pod_name": "orders-6c8d9f7b5-kq2lp",
    "namespace": NS,
    "phase": "Running",
    "failure_reason": "OOMKilled",
    "failure_message": "container orders was OOMKilled",
    "container_statuses": [
        {
            "name": "orders",
            "restart_count": 3,
            "state": "terminated",
            "reason": "OOMKilled",
            "exit_code": 137,
        }
    ],
    "manifest": yaml.safe_dump(MANIFEST),
}


class Harness:
    """The services, the bus connection and the emulator."""

    def __init__(self, nc: NATS, k: kmock.KubernetesEmulator, settings: Settings) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.k = k
        self.settings = settings
        self.mirrors: list[ServiceContext] = []

    async def failure(self, report: dict[str, Any] | None = None) -> int:
        """Publish a failure report; the id of its stored record."""
        body = report or REPORT
        await self.js.publish(bus.COLLECT_POD_FAILURES, msgspec.json.encode(body))

        async def rows() -> list[PodFailure]:
            query = msgspec.json.encode(FailureQuery())
            msg = await self.nc.request(bus.RPC_FAILURES_LIST, query, timeout=10)
            reply = msgspec.json.decode(msg.data, type=Reply)
            found = msgspec.json.decode(reply.body, type=list[PodFailure])
            return [r for r in found if r.pod_name == body["pod_name"]]

        return (await eventually(rows, bool, what="a stored failure"))[0].id

    async def command(self, command: Any) -> Reply:
        """A mirror command's reply."""
        msg = await self.nc.request(bus.RPC_MIRROR_COMMAND, msgspec.json.encode(command), 30)
        return msgspec.json.decode(msg.data, type=Reply)

    async def ok(self, command: Any) -> Any:
        """A successful command's JSON body."""
        reply = await self.command(command)
        assert reply.ok, reply
        return msgspec.json.decode(reply.body)

    async def feed(self, event_type: str) -> list[dict[str, Any]]:
        """Feed events of one type."""
        msgs = await stored_messages(self.nc, bus.feed_subject(event_type), bus.FEED.name)
        return [msgspec.json.decode(m.data)["data"] for m in msgs]

    def deletes(self, name: str) -> list[kmock.Request]:
        """DELETE requests for one pod that reached the emulator."""
        return [r for r in self.k if r.method.value == "DELETE" and r.url.path.endswith(f"/{name}")]

    @asynccontextmanager
    async def replica(self, **overrides: Any) -> AsyncIterator[ServiceContext]:
        """One more mirror replica."""
        settings = msgspec.structs.replace(self.settings, **overrides)
        async with serving("mirror", settings, mirror) as ctx:
            yield ctx

    def store(self, ctx: ServiceContext) -> MirrorStore:
        """A replica's store."""
        store = ctx.components["store"]
        assert isinstance(store, MirrorStore)
        return store

    def commands(self, ctx: ServiceContext) -> Commands:
        """A replica's command handler."""
        commands = ctx.components["commands"]
        assert isinstance(commands, Commands)
        return commands


def plain(obj: Any) -> Any:
    """A kmock stored object as plain dicts and lists."""
    return json.loads(json.dumps(obj, default=dict))


MakeHarness = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def make_harness(
    nats_url: str,
    mongo_url: str,
    mongo_db_name: str,
    nc: NATS,
    kmock: kmock.KubernetesEmulator,
    kmock_kubeconfig: str,
) -> MakeHarness:
    """Ingest + failure-analyzer, and ``mirror`` replicas (``start(replicas=..., **settings)``)."""

    @asynccontextmanager
    async def start(replicas: int = 1, **overrides: Any) -> AsyncIterator[Harness]:
        settings = Settings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            settings_secret=SECRET,
            kubeconfig=kmock_kubeconfig,
            kube_request_timeout_seconds=5.0,
            reaper_interval_seconds=3600,
            llm_timeout_seconds=5.0,
        )
        settings = msgspec.structs.replace(settings, **overrides)
        analyzer = AnalyzerSettings(
            nats_url=nats_url,
            mongodb_url=mongo_url,
            mongodb_db=mongo_db_name,
            settings_secret=SECRET,
            retention_interval_seconds=3600,
            llm_timeout_seconds=2.0,
        )
        harness = Harness(nc, kmock, settings)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(
                serving("ingest", IngestSettings(nats_url=nats_url), ingest)
            )
            await stack.enter_async_context(serving("failure-analyzer", analyzer, failure_analyzer))
            for _ in range(replicas):
                harness.mirrors.append(await stack.enter_async_context(harness.replica()))
            yield harness

    return start


@pytest.fixture
async def h(make_harness: MakeHarness) -> AsyncIterator[Harness]:
    """One mirror replica."""
    async with make_harness() as harness:
        yield harness


async def test_offline_preview_doubles_the_oom_limit_and_strips_runtime_fields(h: Harness) -> None:
    pod_id = await h.failure()
    body = await h.ok(Preview(pod_id=pod_id))
    assert body["is_fallback"] is True
    pod = yaml.safe_load(body["fixed_manifest"])
    meta = pod["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences", "generateName"):
        assert key not in meta
    assert "managedFields" not in meta and "status" not in pod
    assert meta["labels"] == {"app": "orders"}
    assert "nodeName" not in pod["spec"] and "volumes" not in pod["spec"]
    container = pod["spec"]["containers"][0]
    assert "volumeMounts" not in container
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert container["resources"]["requests"]["memory"] == "128Mi"
    assert "OOMKilled" in body["explanation"] and "512Mi" in body["explanation"]
    assert (await h.command(Preview(pod_id=999_999))).status == 404


async def test_offline_preview_says_what_cannot_be_guessed(h: Harness) -> None:
    report = copy.deepcopy(REPORT) | {
        "pod_name": "api-1",
        "failure_reason": "CrashLoopBackOff",
        "failure_message": "back-off restarting failed container",
        "container_statuses": [
            {"name": "orders", "state": "waiting", "reason": "CrashLoopBackOff"}
        ],
        "logs": "KeyError: 'DATABASE_URL'\n",
    }
    body = await h.ok(Preview(pod_id=await h.failure(report)))
    assert "DATABASE_URL" in body["explanation"] and "cannot be guessed" in body["explanation"]
    limits = yaml.safe_load(body["fixed_manifest"])["spec"]["containers"][0]["resources"]
    assert limits["limits"]["memory"] == "256Mi"  # unchanged: not an OOM
    assert limits["limits"]["cpu"] == "500m" and limits["requests"]["cpu"] == "100m"


async def test_preview_with_the_llm(h: Harness) -> None:
    pod_id = await h.failure()
    fixed = copy.deepcopy(MANIFEST)
    fixed["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    answer = f"```yaml\n{yaml.safe_dump(fixed)}```\n## Changes Made\n1. Memory limit 1Gi."
    async with serve_fake_llm(answer) as server:
        app_settings = h.mirrors[0].components["app_settings"]
        assert isinstance(app_settings, AppSettings)
        config = LLMConfig(provider="openai", model="gpt-4o-mini", api_key="k", base_url=server.url)
        await app_settings.set(LLM_CONFIG, config)
        await eventually(
            lambda: asyncio.sleep(0, llm_config(app_settings)), lambda c: c is not None
        )
        body = await h.ok(Preview(pod_id=pod_id))
        assert body["is_fallback"] is False
        pod = yaml.safe_load(body["fixed_manifest"])
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
        assert "uid" not in pod["metadata"] and "status" not in pod  # stripped again
        assert body["explanation"].startswith("## Changes Made")
        assert any("chat/completions" in r.path for r in server.requests)
        # An answer without a usable manifest falls back to the offline fix.
        server.answer = "I would raise the memory."
        body = await h.ok(Preview(pod_id=pod_id))
        assert body["is_fallback"] is True


async def test_deploy_creates_a_labelled_pod_without_owner(h: Harness) -> None:
    pod_id = await h.failure()
    reply = await h.command(Deploy(pod_id=pod_id, ttl_seconds=120, request_id="r1"))
    assert reply.status == 201, reply
    body = msgspec.json.decode(reply.body)
    mirror_id = body["mirror_id"]
    assert body["mirror_pod_name"] == mirror_name(REPORT["pod_name"], mirror_id)
    assert body["mirror_pod_name"] == f"orders-6c8d9f7b5-kq2lp-mirror-{mirror_id}"
    assert (body["namespace"], body["status"], body["ttl_seconds"]) == (NS, "Pending", 120)
    assert body["created_at"].endswith("Z") and "512Mi" in body["fixed_manifest"]
    stored = plain(h.k.objects[PODS, NS, body["mirror_pod_name"]])
    meta = stored["metadata"]
    assert meta["labels"] == {"kubeward.io/mirror": "true", "kubeward.io/mirror-id": mirror_id}
    assert "ownerReferences" not in meta and "uid" not in meta
    assert stored["spec"]["restartPolicy"] == "Never"
    assert "nodeName" not in stored["spec"]
    assert stored["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    # The same request again: the same mirror, no second pod.
    again = await h.command(Deploy(pod_id=pod_id, ttl_seconds=120, request_id="r1"))
    assert again.ok and msgspec.json.decode(again.body)["mirror_id"] == mirror_id
    assert len([r for r in h.k if r.method.value == "POST"]) == 1
    assert [e["mirror_id"] for e in await h.feed("mirror_created")] == [mirror_id]
    # The default TTL is the mirror-ttl setting.
    default = await h.ok(Deploy(pod_id=pod_id))
    assert default["ttl_seconds"] == 180
    long = "x" * 80
    assert len(mirror_name(long, "abcd1234")) == 63


async def test_deploy_validates_ttl_and_the_override(h: Harness) -> None:
    pod_id = await h.failure()
    for ttl in (29, 3601):
        reply = await h.command(Deploy(pod_id=pod_id, ttl_seconds=ttl))
        assert (reply.status, reply.detail) == (400, "ttl_seconds must be between 30 and 3600")

    def override(**spec: Any) -> str:
        pod = copy.deepcopy(MANIFEST)
        pod["spec"].update(spec)
        return yaml.safe_dump(pod)

    other_ns = copy.deepcopy(MANIFEST)
    other_ns["metadata"]["namespace"] = "kube-system"
    bad = {
        yaml.safe_dump(other_ns): 400,
        "apiVersion: v1\nkind: Deployment\nmetadata: {}\nspec: {}\n": 400,
        override() + "---\n" + override(): 400,
        "{not yaml": 400,
        override(hostNetwork=True): 403,
        override(volumes=[{"name": "h", "hostPath": {"path": "/"}}]): 403,
    }
    privileged = copy.deepcopy(MANIFEST)
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    bad[yaml.safe_dump(privileged)] = 403
    caps = copy.deepcopy(MANIFEST)
    caps["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["SYS_ADMIN"]}}
    bad[yaml.safe_dump(caps)] = 403
    for manifest, status in bad.items():
        reply = await h.command(Deploy(pod_id=pod_id, manifest=manifest))
        assert reply.status == status, (manifest, reply)
        assert reply.detail
    assert not [r for r in h.k if r.method.value == "POST"]
    ok = await h.command(Deploy(pod_id=pod_id, manifest=override(), ttl_seconds=60))
    assert ok.status == 201, ok
    assert msgspec.json.decode(ok.body)["explanation"] == "Manifest supplied by the user."


async def test_status_delete_and_active(h: Harness) -> None:
    pod_id = await h.failure()
    body = await h.ok(Deploy(pod_id=pod_id, ttl_seconds=300))
    mirror_id, name = body["mirror_id"], body["mirror_pod_name"]
    # kmock has no kubelet: give the pod the status a real cluster would report.
    stored = plain(h.k.objects[PODS, NS, name])
    stored["status"] = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "orders",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}},
            }
        ],
    }
    h.k.objects[PODS, NS, name] = stored
    h.k[f"get /api/v1/namespaces/{NS}/pods/{name}/log"] << b"listening on :8080\n"
    for event, about in (("Started", name), ("BackOff", "another-pod")):
        h.k.objects[EVENTS, NS, f"{about}.1"] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{about}.1", "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": about, "namespace": NS},
            "type": "Normal",
            "reason": event,
            "message": f"{event} container orders",
            "lastTimestamp": "2026-11-23T10:00:01Z",
        }
    status = await h.ok(Status(mirror_id=mirror_id))
    assert status["status"] == "Running"
    assert status["containers"] == [
        {
            "name": "orders",
            "ready": True,
            "restart_count": 0,
            "state": "running",
            "reason": None,
            "message": None,
            "exit_code": None,
        }
    ]
    assert status["events"] == [
        {
            "type": "Normal",
            "reason": "Started",
            "message": "Started container orders",
            "timestamp": "2026-11-23T10:00:01Z",
        }
    ]
    assert status["logs"] == "listening on :8080\n"
    log_calls = [r for r in h.k if r.subresource == "log"]
    assert log_calls[-1].params == {"tailLines": "50"}
    changes = await h.feed("mirror_status")
    assert [(c["mirror_id"], c["status"]) for c in changes] == [(mirror_id, "Running")]
    active = await h.ok(Active())
    assert [(a["mirror_id"], a["status"]) for a in active] == [(mirror_id, "Running")]

    deleted = await h.ok(Delete(mirror_id=mirror_id))
    assert deleted["mirror_id"] == mirror_id
    assert len(h.deletes(name)) == 1
    assert await h.ok(Active()) == []
    for command in (Status(mirror_id=mirror_id), Delete(mirror_id=mirror_id)):
        reply = await h.command(command)
        assert (reply.status, reply.detail) == (404, "Mirror not found")
    events = await h.feed("mirror_deleted")
    assert [(e["mirror_id"], e["namespace"]) for e in events] == [(mirror_id, NS)]


async def test_the_reaper_deletes_an_expired_mirror(make_harness: MakeHarness) -> None:
    async with make_harness(reaper_interval_seconds=0.2) as h:
        pod_id = await h.failure()
        body = await h.ok(Deploy(pod_id=pod_id, ttl_seconds=30))
        store = h.store(h.mirrors[0])
        await store.set_fields(body["mirror_id"], {"expires_at": now() - timedelta(seconds=1)})
        await eventually(
            lambda: asyncio.sleep(0, h.deletes(body["mirror_pod_name"])), bool, what="a delete"
        )
        await eventually(lambda: h.feed("mirror_deleted"), bool, what="mirror_deleted")
        await eventually(lambda: h.ok(Active()), lambda rows: rows == [], what="no active")
        assert await store.get(body["mirror_id"]) is None


async def test_after_a_restart_the_reaper_cleans_expired_records_and_orphans(
    make_harness: MakeHarness, mongo_url: str, mongo_db_name: str
) -> None:
    client = mongo.connect(mongo_url)
    async with make_harness(replicas=0) as h:
        pod_id = await h.failure()
        async with h.replica():
            body = await h.ok(Deploy(pod_id=pod_id, ttl_seconds=30))
        store = MirrorStore(mongo.database(client, mongo_db_name))
        # While no replica runs: the mirror expires, and a labelled pod has no record.
        await store.set_fields(body["mirror_id"], {"expires_at": now() - timedelta(seconds=5)})
        h.k.objects[PODS, "other", "stray-mirror-deadbeef"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "stray-mirror-deadbeef",
                "namespace": "other",
                "labels": {"kubeward.io/mirror": "true", "kubeward.io/mirror-id": "deadbeef"},
            },
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        h.k.objects[PODS, "other", "unrelated"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "unrelated", "namespace": "other", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        async with h.replica(reaper_interval_seconds=0.2):
            await eventually(
                lambda: asyncio.sleep(
                    0, (h.deletes(body["mirror_pod_name"]), h.deletes("stray-mirror-deadbeef"))
                ),
                lambda d: bool(d[0]) and bool(d[1]),
                what="both deletes",
            )
            await eventually(lambda: h.ok(Active()), lambda rows: rows == [], what="no active")
        assert h.deletes("unrelated") == []
        reasons = {e["mirror_id"]: e["reason"] for e in await h.feed("mirror_deleted")}
        assert reasons == {body["mirror_id"]: "expired", "deadbeef": "orphan"}
    await client.close()


async def test_two_replicas_racing_on_one_expiry_delete_once(make_harness: MakeHarness) -> None:
    async with make_harness(replicas=2) as h:
        pod_id = await h.failure()
        body = await h.ok(Deploy(pod_id=pod_id, ttl_seconds=30))
        a, b = (h.commands(ctx) for ctx in h.mirrors)
        assert a.owner != b.owner
        await h.store(h.mirrors[0]).set_fields(
            body["mirror_id"], {"expires_at": now() - timedelta(seconds=1)}
        )
        results = await asyncio.gather(a.reap(), b.reap(), a.reap(), b.reap())
        assert sum(results) == 1
        assert len(h.deletes(body["mirror_pod_name"])) == 1
        assert len(await h.feed("mirror_deleted")) == 1


async def test_without_a_cluster_the_cluster_commands_answer_503(
    make_harness: MakeHarness,
) -> None:
    async with make_harness(kubeconfig="") as h:
        pod_id = await h.failure()
        for command in (Deploy(pod_id=pod_id), Status(mirror_id="abc"), Delete(mirror_id="abc")):
            reply = await h.command(command)
            assert (reply.status, reply.detail) == (503, "Kubernetes client not available")
        assert await h.ok(Active()) == []
        assert (await h.ok(Preview(pod_id=pod_id)))["is_fallback"] is True


# The failed pod as the Kure agent sends it: the Python client's to_dict(), snake_case keys
# and every unset field as null.
SNAKE_MANIFEST: dict[str, Any] = {
    "api_version": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "billing-7d9f-x1",
        "generate_name": "billing-7d9f-",
        "namespace": NS,
        "uid": "4b0c",
        "resource_version": "9001",
        "creation_timestamp": "2026-11-20T08:15:00+00:00",
        "deletion_timestamp": None,
        "labels": {"app": "billing", "team_name": "payments"},
        "annotations": None,
        "owner_references": [{"api_version": "apps/v1", "kind": "ReplicaSet", "name": "b"}],
        "managed_fields": [{"manager": "kubelet", "fields_v1": {}}],
    },
    "spec": {
        "node_name": "worker-1",
        "host_pid": None,
        "service_account_name": "billing",
        "containers": [
            {
                "name": "billing",
                "image": "registry.acme.io/billing:1.4.0",
                "resources": {"limits": {"memory": "300Mi"}, "requests": None},
                "liveness_probe": {"_exec": {"command": ["cat", "/tmp/ok"]}, "period_seconds": 5},
                "security_context": None,
                "volume_mounts": [
                    {"name": "kube-api-access-q", "mount_path": "/var/run/secrets/x"}
                ],
            }
        ],
        "volumes": [{"name": "kube-api-access-q", "projected": {"sources": []}, "host_path": None}],
    },
    "status": {"phase": "Running", "pod_ip": "10.0.0.7"},
}


async def test_agent_snake_case_manifests_are_read_and_checked(h: Harness) -> None:
    report = copy.deepcopy(REPORT) | {
        "pod_name": "billing-7d9f-x1",
        "manifest": yaml.safe_dump(SNAKE_MANIFEST),
        "container_statuses": [
            {"name": "billing", "state": "terminated", "reason": "OOMKilled", "exit_code": 137}
        ],
    }
    pod_id = await h.failure(report)
    body = await h.ok(Preview(pod_id=pod_id))
    pod = yaml.safe_load(body["fixed_manifest"])
    assert pod["apiVersion"] == "v1" and "api_version" not in pod
    assert set(pod["metadata"]) == {"name", "namespace", "labels"}
    assert pod["metadata"]["labels"] == {"app": "billing", "team_name": "payments"}
    spec = pod["spec"]
    assert "nodeName" not in spec and "volumes" not in spec and "hostPID" not in spec
    assert spec["serviceAccountName"] == "billing"
    container = spec["containers"][0]
    assert "volumeMounts" not in container and "securityContext" not in container
    assert container["livenessProbe"] == {
        "exec": {"command": ["cat", "/tmp/ok"]},
        "periodSeconds": 5,
    }
    assert container["resources"]["limits"]["memory"] == "600Mi"  # OOMKilled: doubled

    def override(**changes: Any) -> str:
        manifest = copy.deepcopy(SNAKE_MANIFEST)
        for key, value in changes.items():
            target = (
                manifest["spec"]["containers"][0] if key == "security_context" else manifest["spec"]
            )
            target[key] = value
        return yaml.safe_dump(manifest)

    refused = {
        override(security_context={"privileged": True}): "privileged",
        override(host_pid=True): "hostPID",
        override(security_context={"capabilities": {"add": ["NET_ADMIN"]}}): "capabilities",
        override(volumes=[{"name": "h", "host_path": {"path": "/etc"}}]): "hostPath",
    }
    for manifest, word in refused.items():
        reply = await h.command(Deploy(pod_id=pod_id, manifest=manifest))
        assert reply.status == 403 and word in (reply.detail or ""), reply
    created = await h.ok(Deploy(pod_id=pod_id, manifest=override(), ttl_seconds=60))
    stored = plain(h.k.objects[PODS, NS, created["mirror_pod_name"]])
    assert stored["spec"]["containers"][0]["livenessProbe"]["exec"] == {
        "command": ["cat", "/tmp/ok"]
    }
    assert "node_name" not in stored["spec"] and "nodeName" not in stored["spec"]


async def test_the_watch_announces_each_status_change_once(make_harness: MakeHarness) -> None:
    """Two replicas watch; the kubelet's status updates (made here through the API, as the
    kubelet does) and a deletion by someone else each become one ``mirror_status`` event,
    with no status request from anyone."""
    async with make_harness(replicas=2, status_watch_seconds=2) as h:
        pod_id = await h.failure()
        body = await h.ok(Deploy(pod_id=pod_id, ttl_seconds=300))
        mirror_id, name = body["mirror_id"], body["mirror_pod_name"]
        kube = await load_client(h.settings.kubeconfig, "", 5.0)
        assert kube is not None

        versions = iter(range(101, 200))

        async def kubelet_reports(status: dict[str, Any]) -> None:
            # kmock keeps no resourceVersion; the API server's grows with every write.
            meta = {"resourceVersion": str(next(versions))}
            body = {"metadata": meta, "status": status}
            await kube.raw(kube.core.patch_namespaced_pod_status, name, NS, body)

        async def announced(count: int) -> list[str]:
            async def statuses() -> list[str]:
                events = await h.feed("mirror_status")
                return [e["status"] for e in events if e["mirror_id"] == mirror_id]

            return await eventually(statuses, lambda s: len(s) >= count, what=f"{count} events")

        def container(state: dict[str, Any]) -> dict[str, Any]:
            return {
                "name": "orders",
                "ready": "running" in state,
                "restartCount": 0,
                "state": state,
            }

        await kubelet_reports(
            {"phase": "Running", "containerStatuses": [container({"running": {}})]}
        )
        assert await announced(1) == ["Running"]
        crash = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
        await kubelet_reports({"phase": "Running", "containerStatuses": [container(crash)]})
        assert await announced(2) == ["Running", "CrashLoopBackOff"]
        record = await h.store(h.mirrors[0]).get(mirror_id)
        assert record is not None and record["status_version"] == 102  # ordered by version
        await kube.raw(kube.core.delete_namespaced_pod, name, NS)
        assert await announced(3) == ["Running", "CrashLoopBackOff", "Deleted"]
        status = await h.ok(Status(mirror_id=mirror_id))
        assert status["status"] == "Deleted"
        # Both replicas relist after their 2 s watch ends: nothing is announced twice.
        for ctx in h.mirrors:
            watch = StatusWatch(kube, h.store(ctx), h.js, watch_seconds=1, retry_seconds=1)
            await watch.resync()
        assert await announced(3) == ["Running", "CrashLoopBackOff", "Deleted"]
        active = await h.ok(Active())
        assert [(a["mirror_id"], a["status"]) for a in active] == [(mirror_id, "Deleted")]
        await kube.close()
