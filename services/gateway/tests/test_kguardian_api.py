"""Contract tests: kguardian's controller, UI and advisor against the kubeward stack.

Pinned upstream behaviour (kguardian-dev/kguardian):
- controller/src/client.rs @ 0db143cb2643756ad0b78f5c7133f7753e91f61d: POSTs
  ``serde_json::to_vec(&json!(..))`` (compact JSON, keys sorted: serde_json's default map),
  ``content-type: application/json``, ``Authorization: Bearer $BROKER_AUTH_TOKEN``; a non-2xx
  is an error and the batch is kept and resent.
- controller/src/network.rs @ 0e5d7ddf32c206ebad61cddbac357a9b770bdfa3: batches of up to 100,
  ``time_stamp`` = ``Utc::now().naive_utc()`` (nanoseconds), ``UNKNOWN(<n>)`` protocols.
- controller/src/models.rs @ 0db143cb2643756ad0b78f5c7133f7753e91f61d: ``pod_namespace: null``,
  ``PodDetail``/``SvcDetail``/``SyscallData`` bodies.
- broker/src/types.rs and add.rs @ 00cc19b8d574b96fffc15fe4e76999b2f9062b43, get.rs (the
  version with ``clamp_pod_traffic_limit``), auth.rs @ 31e9c0ea72d117e8a417c9ef9f80217c3c2c86fc,
  version_check.rs @ 3daf0e54104a94dd925de25edc2df11bac587f55: answers, plain-text 404
  ``No data found``, the limit clamp [1, 20000], scoped tokens, ``/version``.
- frontend/src/services/api.ts @ 176a160ae4f63baf46a6b5372a2b91040c28961f and
  advisor/pkg/api/pod_traffic.go @ 199fee1707c40a2b2a7ac2df627b8f806fbe7666,
  pod_syscall.go @ 2b96a8ba9b4a51e23dcecb8cc8717fd904ceb7e7: what the readers decode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import nats
import pytest
from pymongo import AsyncMongoClient

from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import kguardian_traffic as traffic
from kubeward.devstack.testing import kguardian_wire as wire
from kubeward.devstack.testing import stored_messages as drain
from kubeward.schemas import bus

SERVICE_TOKEN = "kubeward-service-token"
BROKER_AUTH_TOKEN = "kguardian-shared-token-0123456789"
READ_TOKEN = "kguardian-read-token-0123456789ab"
CONTROLLER = {"content-type": "application/json", "authorization": f"Bearer {BROKER_AUTH_TOKEN}"}
READER = {"authorization": f"Bearer {READ_TOKEN}"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def pod_detail(name: str, ip: str, at: str, **changes: Any) -> dict[str, Any]:
    """One ``PodDetail`` as the controller's pod watcher posts it."""
    return {
        "pod_ip": ip,
        "pod_ips": [ip],
        "pod_name": name,
        "pod_namespace": "shop",
        "pod_obj": {
            "metadata": {
                "name": name,
                "namespace": "shop",
                "labels": {"app.kubernetes.io/name": "web"},
                "managedFields": [{"manager": "kubelet"}],
            },
            "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "node-a"},
            "status": {"phase": "Running", "startTime": at + "Z"},
        },
        "time_stamp": at + ".250000001",
        "node_name": "node-a",
        "is_dead": False,
        "pod_identity": "web",
        "workload_selector_labels": {"app.kubernetes.io/name": "web"},
        "workload_kind": "Deployment",
        "workload_name": "web",
        "capture_level": "FULL",
        "host_network": False,
    } | changes


BROKER = {
    "service_token": SERVICE_TOKEN,
    "broker_auth_token": BROKER_AUTH_TOKEN,
    "broker_token_read": READ_TOKEN,
}
"""A gateway configured as a kguardian broker was: its tokens."""


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """Ingest and traffic-store, and a gateway holding the broker's tokens."""
    async with backed_gateway("ingest", "traffic-store", **BROKER) as client:
        yield client


async def test_controller_batch_is_stored_and_read_back_as_the_broker_answers(
    api: httpx.AsyncClient,
) -> None:
    batch = [
        traffic(1),
        traffic(2, ip_protocol="UNKNOWN(132)", decision="DROP", syn_retries=4),
        traffic(3, pod_namespace=None),
        traffic(4, ip_protocol="ICMPv6"),
    ]
    resp = await api.post("/pod/traffic/batch", content=wire(batch), headers=CONTROLLER)
    assert resp.status_code == 200 and resp.json() == 4
    rows = (await api.get("/pod/traffic/web-7d9f6b8c4-x5z2w", headers=READER)).json()
    by_peer = {r["traffic_in_out_ip"]: r for r in rows}
    assert by_peer["10.96.0.2"]["ip_protocol"] == "UNKNOWN(132)"
    assert by_peer["10.96.0.2"]["decision"] == "DROP"
    assert by_peer["10.96.0.3"]["pod_namespace"] is None
    assert by_peer["10.96.0.4"]["ip_protocol"] == "ICMPV6"
    assert by_peer["10.96.0.1"]["time_stamp"] == "2026-05-12T10:32:01.123456"
    # A resent batch (the controller keeps a failed one) stores nothing twice.
    again = await api.post("/pod/traffic/batch", content=wire(batch), headers=CONTROLLER)
    assert again.status_code == 200 and again.json() == 0
    # What the broker refuses (serde: a port that is a number) is still a 400.
    bad = await api.post(
        "/pod/traffic/batch", content=wire([traffic(5, pod_port=80)]), headers=CONTROLLER
    )
    assert bad.status_code == 400 and "pod_port" in bad.json()["detail"]

    # GET /pod/traffic?limit= is clamped to [1, 20000] as the broker does, never refused.
    for limit in ("0", "-3"):
        clamped = await api.get("/pod/traffic", params={"limit": limit}, headers=READER)
        assert clamped.status_code == 200 and len(clamped.json()) == 1, limit
    assert (
        len((await api.get("/pod/traffic", params={"limit": "99999"}, headers=READER)).json()) == 4
    )
    missing = await api.get("/pod/traffic/nobody", headers=READER)
    assert missing.status_code == 404 and missing.text == "No data found"
    assert missing.headers["content-type"].startswith("text/plain")


async def test_pod_spec_is_answered_as_stored_and_read_back_by_the_ui_and_advisor(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.get("/pod/info", headers=READER)).json() == []  # as the broker: 200 []
    posted = pod_detail("web-1", "10.244.1.5", "2026-05-12T10:00:00")
    resp = await api.post("/pod/spec", content=wire(posted), headers=CONTROLLER)
    assert resp.status_code == 200
    stored = resp.json()
    assert stored["pod_obj"] == {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "labels": {"app.kubernetes.io/name": "web"},
        }
    }
    assert stored["capture_level"] == "full" and stored["pod_ips"] == ["10.244.1.5"]
    assert stored["started_at"] == "2026-05-12T10:00:00.000000"
    other = pod_detail("api-1", "10.244.1.6", "2026-05-12T10:00:01", pod_namespace=None)
    await api.post("/pod/spec", content=wire(other), headers=CONTROLLER)

    pods = (await api.get("/pod/info", headers=READER)).json()
    assert [p["pod_name"] for p in pods] == ["web-1", "api-1"]  # namespace order, null last
    web = pods[0]
    assert list(web) == [
        "pod_name", "pod_ip", "pod_namespace", "pod_obj", "time_stamp", "node_name", "is_dead",
        "pod_identity", "workload_selector_labels", "pod_ips", "workload_kind",
        "workload_name", "capture_level", "host_network", "started_at",
    ]  # fmt: skip
    assert web["time_stamp"] == "2026-05-12T10:00:00.250"  # chrono's NaiveDateTime format
    assert web["started_at"] == "2026-05-12T10:00:00"
    assert web["workload_selector_labels"] == {"app.kubernetes.io/name": "web"}
    by_name = await api.get("/pod/name/web-1", headers=READER)
    assert by_name.json() == web
    by_ip = await api.get("/pod/ip/10.244.1.5", headers=READER)
    assert by_ip.json()["pod_name"] == "web-1"
    v6 = pod_detail("v6-1", "FD00:0:0:0:0:0:0:5", "2026-05-12T10:00:02", pod_ips=None)
    await api.post("/pod/spec", content=wire(v6), headers=CONTROLLER)
    # llm-bridge percent-encodes the IP (encodeURIComponent); any spelling finds the pod.
    by_v6 = await api.get("/pod/ip/FD00%3A%3A5", headers=READER)
    assert by_v6.json()["pod_ips"] == ["fd00::5"] and by_v6.json()["pod_ip"] == "fd00::5"
    listed = (await api.get("/pod/list/node-a", headers=READER)).json()
    assert {p["pod_name"] for p in listed} == {"web-1", "api-1", "v6-1"}
    assert (await api.get("/pod/list/node-z", headers=READER)).json() == []
    for path in ("/pod/name/ghost", "/pod/ip/10.9.9.9"):
        missing = await api.get(path, headers=READER)
        assert missing.status_code == 404 and missing.text == "No data found", path

    dead = await api.post(
        "/pod/mark_dead",
        content=wire({"pod_name": "web-1", "pod_ip": "10.244.1.5"}),
        headers=CONTROLLER,
    )
    assert dead.status_code == 200 and dead.json() == 1
    stale = await api.post(
        "/pod/mark_dead",
        content=wire({"pod_name": "api-1", "pod_ip": "10.0.0.1"}),
        headers=CONTROLLER,
    )
    assert stale.json() == 0  # the IP sanity check: a racing restart stays alive
    listed = (await api.get("/pod/list/node-a", headers=READER)).json()
    assert [p["pod_name"] for p in listed] == ["v6-1", "api-1"]
    assert (await api.get("/pod/name/web-1", headers=READER)).json()["is_dead"] is True
    # A re-post without a manifest keeps the stored one (the broker's upsert skips nulls).
    await api.post(
        "/pod/spec",
        content=wire(other | {"pod_obj": None, "time_stamp": "2026-05-12T10:05:00"}),
        headers=CONTROLLER,
    )
    again = (await api.get("/pod/name/api-1", headers=READER)).json()
    assert again["pod_obj"]["metadata"]["name"] == "api-1"
    assert again["time_stamp"] == "2026-05-12T10:05:00"


async def test_a_recycled_ip_maps_to_the_pod_that_held_it_at_the_time(
    api: httpx.AsyncClient,
    nats_url: str,
    mongo_url: str,
    mongo_db_name: str,
) -> None:
    first = pod_detail("job-a", "10.244.7.7", "2026-01-01T00:00:00")
    second = pod_detail("job-b", "10.244.7.7", "2026-03-01T00:00:00")
    for body in (first, second):
        assert (
            await api.post("/pod/spec", content=wire(body), headers=CONTROLLER)
        ).status_code == 200

    async def held_at(at: str) -> httpx.Response:
        return await api.get("/pod/ip/10.244.7.7", params={"at": at}, headers=READER)

    assert (await held_at("2026-02-01T00:00:00")).json()["pod_name"] == "job-a"
    assert (await held_at("2026-04-01T12:00:00Z")).json()["pod_name"] == "job-b"
    assert (await held_at("2025-12-01T00:00:00")).status_code == 404
    assert (await api.get("/pod/ip/10.244.7.7", headers=READER)).json()["pod_name"] == "job-b"
    bad = await held_at("soon")
    assert bad.status_code == 400

    # The same spec again, over the bus (as a collector would): no new interval.
    conn = await nats.connect(nats_url)
    try:
        js = conn.jetstream()
        await js.publish(bus.COLLECT_POD_SPEC, wire(second))
        # One bad record of an array is dead-lettered alone; the good one goes on.
        bad_and_good = [second | {"is_dead": "no"}, second | {"node_name": "node-b"}]
        await js.publish(bus.COLLECT_POD_SPEC, wire(bad_and_good))
        dead = await eventually(
            lambda: drain(conn, bus.deadletter_subject("ingest"), bus.DEADLETTER.name),
            lambda msgs: len(msgs) == 1,
            what="the bad pod spec dead-lettered",
        )
        assert "is_dead" in (dead[0].headers or {})[bus.HDR_REASON]
    finally:
        await conn.close()
    await eventually(
        lambda: api.get("/pod/name/job-b", headers=READER),
        lambda r: r.json()["node_name"] == "node-b",
        what="the bus-published spec stored",
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        history = client[mongo_db_name]["pod_ip_history"]
        intervals = await history.find({"ip": "10.244.7.7"}).to_list()
    finally:
        await client.close()
    assert sorted((i["pod_name"], i["until"][:4]) for i in intervals) == [
        ("job-a", "2026"),
        ("job-b", "9999"),
    ]


async def test_services_syscalls_and_version(
    api: httpx.AsyncClient,
) -> None:
    svc = {
        "svc_ip": "10.96.0.10",
        "svc_name": "db",
        "svc_namespace": "shop",
        "service_spec": {"metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]},
                         "status": {"loadBalancer": {}}},
        "time_stamp": "2026-05-12T10:00:00.123456789",
    }  # fmt: skip
    resp = await api.post("/svc/spec", content=wire(svc), headers=CONTROLLER)
    assert resp.status_code == 200 and "status" not in resp.json()["service_spec"]
    headless = svc | {"svc_ip": "None", "svc_name": "headless"}
    echoed = await api.post("/svc/spec", content=wire(headless), headers=CONTROLLER)
    assert echoed.status_code == 200 and echoed.json()["svc_ip"] == "None"
    services = (await api.get("/svc/info", headers=READER)).json()
    assert services == [
        {
            "svc_ip": "10.96.0.10",
            "svc_name": "db",
            "svc_namespace": "shop",
            "service_spec": {"metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]}},
            "time_stamp": "2026-05-12T10:00:00.123456",
        }
    ]
    assert (await api.get("/svc/ip/10.96.0.10", headers=READER)).json() == services[0]
    assert (await api.get("/svc/ip/10.96.0.99", headers=READER)).text == "No data found"

    calls = [{"pod_name": "web-1", "pod_namespace": "shop", "syscalls": ["read", "write"],
              "arch": "x86_64", "time_stamp": "2026-05-12T10:00:00.500000001"}]  # fmt: skip
    resp = await api.post("/pod/syscalls", content=wire(calls), headers=CONTROLLER)
    assert resp.status_code == 200 and resp.content == b"null"
    calls[0]["syscalls"] = ["read", "write", "openat"]
    await api.post("/pod/syscalls", content=wire(calls), headers=CONTROLLER)
    rows = (await api.get("/pod/syscalls/web-1", headers=READER)).json()
    assert rows == [
        {
            "pod_name": "web-1",
            "pod_namespace": "shop",
            "syscalls": "read,write,openat",
            "arch": "x86_64",
            "time_stamp": "2026-05-12T10:00:00.500",
        }
    ]
    assert (await api.get("/pod/syscalls/ghost", headers=READER)).json() == []
    not_array = await api.post("/pod/syscalls", content=wire(calls[0]), headers=CONTROLLER)
    assert not_array.status_code == 400
    missing = await api.post("/pod/spec", content=wire({"pod_name": "x"}), headers=CONTROLLER)
    assert missing.status_code == 400 and "pod_ip" in missing.json()["detail"]

    version = (await api.get("/version", headers=READER)).json()
    assert set(version) == {
        "broker", "chart", "telemetry_enabled", "latest", "checked_at", "update_available",
    }  # fmt: skip
    assert version["update_available"] is False and version["latest"] is None


async def test_scoped_tokens_and_anonymous_reads(
    api: httpx.AsyncClient, backed_gateway: BackedGateway
) -> None:
    spec = wire(pod_detail("web-1", "10.244.1.5", "2026-05-12T10:00:00"))
    refused = await api.post("/pod/spec", content=spec, headers=READER)
    assert refused.status_code == 403  # the read scope does not ingest
    kubeward = await api.post("/pod/spec", content=spec, headers={"X-Service-Token": SERVICE_TOKEN})
    assert kubeward.status_code == 200  # the service token acts as kguardian's ingest
    outside = await api.get("/api/pods/failed", headers=READER)
    assert outside.status_code == 401  # broker tokens are credentials on kguardian routes only
    assert (await api.get("/pod/info")).status_code == 401
    async with backed_gateway(**BROKER, kguardian_anonymous_read=True) as open_api:
        anonymous = await open_api.get("/pod/info")
        assert anonymous.status_code == 200 and anonymous.json()[0]["pod_name"] == "web-1"
        assert (await open_api.get("/pod/traffic")).status_code == 200
        assert (await open_api.post("/pod/spec", content=spec)).status_code == 401
        assert (await open_api.get("/api/pods/failed")).status_code == 401
