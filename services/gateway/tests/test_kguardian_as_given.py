"""Contract tests: pod traffic the kguardian broker stores as given is stored, never refused.

Pinned upstream behaviour (kguardian-dev/kguardian):
- broker/src/types.rs and add.rs @ 00cc19b8d574b96fffc15fe4e76999b2f9062b43: ``PodTraffic``
  has every column but ``uuid`` and ``time_stamp`` as ``Option<String>``; ``add_pods_batch``
  canonicalises the two IPs, dedups on the seven content columns and inserts the rest as
  given. Only serde refuses a body: a wrong JSON type, a missing ``time_stamp``, a time
  that is not a ``NaiveDateTime``.
- broker/src/ip.rs @ c1bbf51c0d9d8d2f8216081fbb7d6aa113541a5f: ``canonical_ip`` returns a
  value that does not parse as an IP unchanged (no trimming).
- broker/db/migrations/2023-06-06-070736_pod_traffic/up.sql @
  1b2fb743bfc840aec4588a6abfc0d06b932faf21: the columns are ``VARCHAR``.
- controller/src/client.rs @ 0db143cb2643756ad0b78f5c7133f7753e91f61d and network.rs @
  0e5d7ddf32c206ebad61cddbac357a9b770bdfa3: compact JSON with sorted keys, a bearer token,
  nanosecond ``time_stamp``; a refused batch is kept and resent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import kguardian_traffic as traffic
from kubeward.devstack.testing import kguardian_wire as wire
from kubeward.devstack.testing import stored_messages as drain
from kubeward.gateway.diagram_graph import Diagram, Node, node_id
from kubeward.gateway.diagram_traffic import overlay
from kubeward.schemas import bus

TOKEN = "kguardian-shared-token-0123456789"
CONTROLLER = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
READER = {"authorization": f"Bearer {TOKEN}"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


AS_GIVEN = {
    2: {"pod_port": "http"},
    3: {"traffic_in_out_port": "70000"},
    4: {"traffic_in_out_ip": "unknown"},
    5: {"pod_ip": " 10.244.1.5"},
    6: {"traffic_type": "SIDEWAYS"},
    7: {"decision": "AUDIT"},
    8: {"ip_protocol": "UDP", "traffic_type": "INGRESS", "traffic_in_out_port": "dns"},
    9: {"traffic_in_out_ip": "a|b", "traffic_in_out_port": "*"},
}
"""Per event number, values kguardian's broker stores exactly as given."""


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """Ingest and traffic-store, and a gateway holding the broker's token."""
    gateway = {"service_token": "kubeward-service-token", "broker_auth_token": TOKEN}
    async with backed_gateway("ingest", "traffic-store", **gateway) as client:
        yield client


async def rows_by_uuid(api: httpx.AsyncClient, **params: str) -> dict[str, dict[str, Any]]:
    """``GET /pod/traffic`` as the UI reads it, keyed by ``uuid``."""
    resp = await api.get("/pod/traffic", params=params, headers=READER)
    assert resp.status_code == 200, resp.text
    return {row["uuid"]: row for row in resp.json()}


async def test_a_batch_mixing_values_stored_as_given_is_stored_whole_and_once(
    api: httpx.AsyncClient,
) -> None:
    batch = [traffic(1)] + [traffic(n, **values) for n, values in AS_GIVEN.items()]
    batch.append(traffic(10, traffic_in_out_ip="FD00:0:0:0:0:0:0:1", pod_port="08080"))
    resp = await api.post("/pod/traffic/batch", content=wire(batch), headers=CONTROLLER)
    assert resp.status_code == 200, resp.text
    assert resp.json() == 10

    rows = await rows_by_uuid(api)
    assert len(rows) == 10
    for n, values in AS_GIVEN.items():
        row = rows[traffic(n)["uuid"]]
        assert {k: row[k] for k in values} == values, n
        assert row["time_stamp"] == f"2026-05-12T10:32:{n:02d}.123456"
    # What parses is still normalised, as the broker does with IPs.
    parsed = rows[traffic(10)["uuid"]]
    assert (parsed["traffic_in_out_ip"], parsed["pod_port"]) == ("fd00::1", "8080")
    assert set(rows[traffic(2)["uuid"]]) == set(traffic(2))  # exactly kguardian's keys

    # The controller resends a batch it thinks failed, and re-emits the same flows later
    # with new uuids and times: nothing is stored twice.
    again = await api.post("/pod/traffic/batch", content=wire(batch), headers=CONTROLLER)
    assert again.status_code == 200 and again.json() == 0
    later = [
        row | {"uuid": f"7f1c2a4e-0000-4000-8000-{i:012d}", "time_stamp": "2026-05-12T11:00:00"}
        for i, row in enumerate(batch)
    ]
    resent = await api.post("/pod/traffic/batch", content=wire(later), headers=CONTROLLER)
    assert resent.status_code == 200 and resent.json() == 0
    assert (await rows_by_uuid(api)).keys() == rows.keys()

    # The listing filters find values kept as given, and known ones in any case.
    sideways = await rows_by_uuid(api, traffic_type="SIDEWAYS")
    assert list(sideways) == [traffic(6)["uuid"]]
    assert len(await rows_by_uuid(api, traffic_type="egress")) == 8
    assert list(await rows_by_uuid(api, decision="AUDIT")) == [traffic(7)["uuid"]]
    assert len(await rows_by_uuid(api, decision="allow")) == 9


async def test_what_the_broker_refuses_still_refuses_the_http_batch(
    api: httpx.AsyncClient,
) -> None:
    for bad, field in (
        (traffic(12, pod_port=8080), "pod_port"),  # a number where the broker wants a string
        (traffic(12, time_stamp="yesterday"), "time_stamp"),
        ({k: v for k, v in traffic(12).items() if k != "time_stamp"}, "time_stamp"),
    ):
        batch = [traffic(11, pod_port="http"), bad]
        resp = await api.post("/pod/traffic/batch", content=wire(batch), headers=CONTROLLER)
        assert resp.status_code == 400, resp.text
        detail = resp.json()["detail"]
        assert detail.startswith("Invalid pod traffic: [1] ") and field in detail, detail
    missing = await api.get("/pod/traffic", headers=READER)
    assert missing.json() == []  # nothing of a refused request is stored


async def test_on_the_bus_only_what_the_broker_refuses_is_dead_lettered(
    api: httpx.AsyncClient, nc: NATS
) -> None:
    message = [
        traffic(21, pod_port="http", decision="AUDIT"),
        traffic(22, time_stamp="soon"),
        traffic(23, traffic_in_out_ip="unknown"),
    ]
    await nc.jetstream().publish(bus.COLLECT_POD_TRAFFIC, wire(message))
    rows = await eventually(
        lambda: rows_by_uuid(api), lambda r: len(r) == 2, what="the two storable records"
    )
    assert rows[traffic(21)["uuid"]]["pod_port"] == "http"
    assert rows[traffic(23)["uuid"]]["traffic_in_out_ip"] == "unknown"
    dead = await drain(nc, bus.deadletter_subject("ingest"), bus.DEADLETTER.name)
    assert [(m.headers or {})[bus.HDR_REASON] for m in dead] == [
        "[1] time_stamp: 'soon' is not an ISO 8601 time"
    ]
    assert msgspec.json.decode(dead[0].data) == message[1]


def test_the_diagram_overlay_draws_flows_with_values_kept_as_given() -> None:
    pod = node_id("Pod", "web", "shop")
    diagram = Diagram(nodes=[Node(id=pod, kind="Pod", name="web")], edges=[], groups=[])
    pods = [{"metadata": {"name": "web"}, "status": {"podIP": "10.244.1.5"}}]
    flows = [
        traffic(1, traffic_in_out_ip="unknown", pod_port="http", hits=2),
        traffic(2, traffic_in_out_ip="unknown", traffic_type="SIDEWAYS", decision="AUDIT"),
    ]
    drawn = overlay(diagram, "shop", pods, flows)
    external = node_id("External", "unknown")
    assert {(e.source, e.target, e.kind) for e in drawn.edges} == {
        (pod, external, "traffic"),
        (external, pod, "traffic"),
    }


async def test_feed_announces_flows_with_values_kept_as_given(
    api: httpx.AsyncClient, nc: NATS
) -> None:
    odd = [traffic(31, traffic_in_out_ip="peer\r\nNats-Expected-Stream: x", pod_port="é|*")]
    resp = await api.post("/pod/traffic/batch", content=wire(odd), headers=CONTROLLER)
    assert resp.status_code == 200 and resp.json() == 1
    events = await eventually(
        lambda: drain(nc, bus.feed_subject("pod_traffic"), bus.FEED.name),
        lambda found: len(found) == 1,
        what="the new flow's feed event",
    )
    # The retry guard of the announcement stays a well-formed header.
    msg_id = (events[0].headers or {})[bus.HDR_MSG_ID]
    assert msg_id.isascii() and msg_id.isprintable(), msg_id
    announced = msgspec.json.decode(events[0].data)
    assert announced["type"] == "pod_traffic"
    assert announced["data"]["traffic_in_out_ip"] == odd[0]["traffic_in_out_ip"]
    assert announced["data"]["pod_port"] == "é|*"
