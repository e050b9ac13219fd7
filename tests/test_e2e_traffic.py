"""End to end: all six services as processes (as ``make run`` starts them), real servers.

Collectors publish on the bus and call the HTTP API; results are read back through REST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import SERVICE_TOKEN, eventually
from kubeward.schemas import bus

AUTH = {"X-Service-Token": SERVICE_TOKEN}


def event(n: int, **changes: str) -> dict[str, str]:
    """kguardian event ``n``: a distinct flow per ``n``, one second apart."""
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "pod_name": f"pod-{n % 3}",
        "pod_namespace": "production",
        "pod_ip": "10.244.1.5",
        "pod_port": str(20000 + n),
        "ip_protocol": "TCP",
        "traffic_type": "EGRESS",
        "traffic_in_out_ip": "10.244.3.15",
        "traffic_in_out_port": "5432",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:{n // 60:02d}:{n % 60:02d}.000000",
    } | changes


@pytest.fixture
async def api(stack: ServiceSet) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the running gateway."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
async def collector(stack: ServiceSet) -> AsyncIterator[NATS]:
    """A collector's NATS connection."""
    conn = await nats.connect(stack.env["NATS_URL"])
    yield conn
    await conn.close()


async def listed(api: httpx.AsyncClient, path: str = "/pod/traffic") -> list[dict[str, object]]:
    """Rows the API returns (an empty list for the 404 of a pod with no rows)."""
    resp = await api.get(path, headers=AUTH, params={"with_stats": "true"})
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    rows: list[dict[str, object]] = resp.json()
    return rows


async def test_every_service_reports_healthy(stack: ServiceSet) -> None:
    async with httpx.AsyncClient() as client:
        for name in stack.procs:
            resp = await client.get(stack.health_url(name))
            assert resp.status_code == 200, name
            assert resp.json()["status"] == "ok", name


async def test_bus_and_http_input_meet_in_one_store(
    api: httpx.AsyncClient, collector: NATS
) -> None:
    js = collector.jetstream()
    # Bus: one event, an array with a duplicate and a malformed record, a retried publish.
    ack = await js.publish(
        bus.COLLECT_POD_TRAFFIC,
        msgspec.json.encode(event(1)),
        headers={bus.HDR_MSG_ID: "collector-1"},
    )
    retry = await js.publish(
        bus.COLLECT_POD_TRAFFIC,
        msgspec.json.encode(event(1)),
        headers={bus.HDR_MSG_ID: "collector-1"},
    )
    assert ack.stream == bus.COLLECT.name and retry.duplicate
    mixed = [
        event(2),
        event(1, uuid="00000000-0000-4000-8000-0000000000ff"),
        event(3, time_stamp="x"),
    ]
    await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(mixed))
    # One bulk write applies the new flow and the repeat's hit; a reader can see one first.
    rows = await eventually(
        lambda: listed(api),
        lambda r: {x["pod_port"]: x["hits"] for x in r} == {"20002": 1, "20001": 2},
        what="2 bus flows, the repeat counted",
    )
    assert [r["pod_port"] for r in rows] == ["20002", "20001"]  # newest first

    # The malformed record went to the dead-letter stream with its reason.
    dl = await js.pull_subscribe(bus.DEADLETTER_PREFIX + ">", stream=bus.DEADLETTER.name)
    (dead,) = await dl.fetch(1, timeout=10)
    assert (dead.headers or {})[bus.HDR_REASON] == "[2] time_stamp: 'x' is not an ISO 8601 time"

    # HTTP: the same store, same dedup.
    one = await api.post("/pod/traffic", json=event(1), headers=AUTH)
    assert one.status_code == 200 and one.json() is None
    new = await api.post("/pod/traffic", json=event(4), headers=AUTH)
    assert new.json()["uuid"] == event(4)["uuid"]
    count = await api.post(
        "/pod/traffic/batch", json=[event(2), event(5), event(6), event(5)], headers=AUTH
    )
    assert count.status_code == 200 and count.json() == 2
    rows = await listed(api)  # read-your-writes: no waiting after the response
    assert [r["pod_port"] for r in rows] == [str(20000 + n) for n in (6, 5, 4, 2, 1)]

    pod = await api.get("/pod/traffic/pod-1", headers=AUTH)
    assert {r["pod_name"] for r in pod.json()} == {"pod-1"}
    missing = await api.get("/pod/traffic/no-such-pod", headers=AUTH)
    assert missing.status_code == 404 and missing.content == b"No data found"


async def test_errors_over_http(api: httpx.AsyncClient) -> None:
    unauth = await api.get("/pod/traffic")
    assert unauth.status_code == 401 and unauth.json() == {"detail": "Not authenticated"}
    # A time that is not a time: kguardian's broker refuses it too.
    bad = await api.post("/pod/traffic", json=event(1, time_stamp="noon"), headers=AUTH)
    assert bad.status_code == 400
    assert bad.json() == {
        "detail": "Invalid pod traffic: time_stamp: 'noon' is not an ISO 8601 time"
    }
    assert await listed(api) == []


async def test_metrics_count_ingest(api: httpx.AsyncClient) -> None:
    await api.post("/pod/traffic/batch", json=[event(1), event(2)], headers=AUTH)
    text = (await api.get("/metrics")).text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith('kubeward_ingest_records_total{kind="pod-traffic",outcome="accepted"}')
    )
    assert float(line.rsplit(" ", 1)[1]) == 2.0
