"""End to end: failures explained by dropped traffic, and a failure's blast radius.

ingest, traffic-store and failure-analyzer run in-process on real NATS and MongoDB; the
cluster of ``devstack.cluster_world`` is posted as kguardian's controller posts it, moved
so that its drops happened three minutes before now, then the Kure agent reports a failure.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import yaml
from kubernetes.client import ApiClient
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from websockets.asyncio.client import connect

from kubeward.core.bus import settled
from kubeward.devstack import cluster_world as world
from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import kguardian_wire as wire
from kubeward.schemas import bus

TOKEN = "svc-token"  # the gateway_settings fixture's
SERVICE = {"X-Service-Token": TOKEN, "content-type": "application/json"}
ADMIN = {"username": "root", "password": "correct horse battery"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
ALL = ("ingest", "traffic-store", "failure-analyzer")


def allowed_only(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["decision"] == "ALLOW"]


@asynccontextmanager
async def stack(
    backed_gateway: BackedGateway,
    services: tuple[str, ...] = ALL,
    keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda e: e,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in admin on ``services`` (with ``settings``) holding the world around now
    (posted when traffic-store runs)."""
    delta = world.delta_to(datetime.now(UTC).replace(tzinfo=None))
    async with backed_gateway(*services, settings=settings) as client:
        if "traffic-store" in services:
            for pod in world.shifted(world.PODS, delta):
                resp = await client.post("/pod/spec", content=wire(pod), headers=SERVICE)
                assert resp.status_code == 200, resp.text
            for svc in world.shifted(world.SERVICES, delta):
                resp = await client.post("/svc/spec", content=wire(svc), headers=SERVICE)
                assert resp.status_code == 200, resp.text
            events = keep(world.shifted(world.traffic(), delta))
            sent = await client.post("/pod/traffic/batch", content=wire(events), headers=SERVICE)
            assert sent.json() == len(events), sent.text
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        yield client


async def report(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/pods/failed", json=body, headers=SERVICE)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def fenced_yaml(markdown: str) -> Any:
    """The YAML of the solution's fenced ``yaml`` block (indented inside its list item)."""
    found = re.search(r"```yaml\n(.*?)\n\s*```", markdown, re.S)
    assert found, markdown
    return yaml.safe_load(textwrap.dedent(found.group(1)))


async def test_a_crash_loop_timing_out_to_a_dropped_peer_is_explained_by_the_drop(
    backed_gateway: BackedGateway,
) -> None:
    async with stack(backed_gateway) as api:
        record = await report(api, world.ledger_crash())
    solution = record["solution"]
    assert record["analyzer"] == "network.policy-drop", solution
    title = solution.splitlines()[0]
    assert title == "**NetworkPolicy drops traffic to postgres:5432/TCP (2 drops)**"
    assert "times out connecting to `10.96.10.30:5432`" in solution
    assert (
        "kguardian recorded **2** drops of traffic from `ledger/Deployment/ledger` to "
        "`shop/StatefulSet/postgres` on port `5432/TCP` (target port `postgresql`) at "
    ) in solution
    assert "StatefulSet `postgres` in namespace `shop`" in solution
    assert "Service `shop/postgres`, port 5432" in solution
    assert solution.count("- **traffic**: `DROP x1:") == 2
    # the generic "cannot reach" answer is still there, below
    assert "(`crash.dependency-unreachable`)" in solution.split("## Also Noticed")[1]
    policy = fenced_yaml(solution)
    client = ApiClient()
    model = client._ApiClient__deserialize(policy, "V1NetworkPolicy")
    assert client.sanitize_for_serialization(model) == policy
    assert (model.metadata.namespace, model.spec.policy_types) == ("ledger", ["Egress"])
    assert model.spec.pod_selector.match_labels == {"app": "ledger"}
    [rule] = model.spec.egress
    assert rule.to[0].pod_selector.match_labels == {"app": "postgres"}
    assert [(p.protocol, p.port) for p in rule.ports] == [("TCP", "postgresql")]


async def test_the_same_crash_without_drops_gets_the_dependency_answer(
    backed_gateway: BackedGateway,
) -> None:
    async with stack(backed_gateway, keep=allowed_only) as api:
        record = await report(api, world.ledger_crash())
    assert record["analyzer"] == "crash.dependency-unreachable", record["solution"]
    assert "network.policy-drop" not in record["solution"]
    assert "NetworkPolicy drops" not in record["solution"]


class DropSearches:
    """The failures failure-analyzer asks traffic-store about (``drops-many`` requests),
    seen by a subscription of the test beside traffic-store's."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._asked = 0
        self._sub: Subscription | None = None

    async def __aenter__(self) -> DropSearches:
        self._sub = await self._nc.subscribe(bus.RPC_NETWORK_DROPS_MANY, cb=self._seen)
        await settled(self._nc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._sub is not None
        await self._sub.unsubscribe()

    async def _seen(self, msg: Msg) -> None:
        self._asked += len(msgspec.json.decode(msg.data)["queries"])

    async def asked(self) -> int:
        """Failures asked about so far: every request sent before this call (a report
        answered before it asked its own) has been counted."""
        assert self._sub is not None
        sub = self._sub
        # The server queues a PONG behind every message routed to this connection before
        # it; then wait for the subscription's queue to be taken (its callback counts at once).
        await self._nc.flush()

        async def waiting() -> int:
            return sub.pending_msgs

        await eventually(waiting, lambda n: n == 0, timeout=5)
        return self._asked


async def test_a_cluster_without_drops_is_asked_once_about_them(
    backed_gateway: BackedGateway, nc: NATS
) -> None:
    """traffic-store says no DROP was ever stored: the next failures, within
    ``traffic_quiet_seconds``, are diagnosed without asking again, the same way."""
    fresh = {"failure-analyzer": {"traffic_quiet_seconds": 60.0}}
    async with (
        DropSearches(nc) as searches,
        stack(backed_gateway, keep=allowed_only, settings=fresh) as api,
    ):
        first = await report(api, world.ledger_crash())
        assert await searches.asked() == 1
        second = await report(api, world.ledger_crash(world.POSTGRES, "shop"))
        third = await report(api, world.ledger_crash())
        assert await searches.asked() == 1
    for record in (first, second, third):
        assert record["analyzer"] == "crash.dependency-unreachable", record["solution"]


async def test_a_stored_drop_is_asked_about_for_every_failure_in_its_window(
    backed_gateway: BackedGateway, nc: NATS
) -> None:
    fresh = {"failure-analyzer": {"traffic_quiet_seconds": 60.0}}
    async with DropSearches(nc) as searches, stack(backed_gateway, settings=fresh) as api:
        first = await report(api, world.ledger_crash())
        again = await report(api, world.ledger_crash())
        assert await searches.asked() == 2
    for record in (first, again):
        assert record["analyzer"] == "network.policy-drop", record["solution"]


async def test_without_traffic_store_the_report_is_diagnosed_all_the_same(
    backed_gateway: BackedGateway,
) -> None:
    async with stack(backed_gateway, ("ingest", "failure-analyzer")) as api:
        started = time.monotonic()
        record = await report(api, world.ledger_crash())
        took = time.monotonic() - started
        impact = await api.get(f"/api/pods/failed/{record['id']}/impact")
    assert record["analyzer"] == "crash.dependency-unreachable"
    assert took < 5, took
    assert impact.status_code == 503
    assert impact.json()["detail"] == "Traffic store is not available"


async def feed_seq(nc: NATS) -> int:
    info = await nc.jetstream().stream_info(bus.FEED.name)
    return int(info.state.last_seq)


async def test_impact_names_the_callers_and_their_drops(
    backed_gateway: BackedGateway, nc: NATS
) -> None:
    postgres_down = world.ledger_crash(world.POSTGRES, "shop") | {
        "logs": 'FATAL:  could not write to file "pg_wal/xlogtemp.31": No space left on device\n'
    }
    async with stack(backed_gateway) as api:
        since = await feed_seq(nc)
        ledger = await report(api, world.ledger_crash())
        postgres = await report(api, postgres_down)
        url = str(api.base_url).replace("http", "ws", 1) + "/api/ws?"
        params = {"token": TOKEN, "since": since, "types": "pod_impact"}
        async with connect(url + urlencode(params), proxy=None, open_timeout=10) as ws:
            frame = msgspec.json.decode(await ws.recv())  # the first: ledger has no callers
        resp = await api.get(f"/api/pods/failed/{postgres['id']}/impact")
        wider = await api.get(f"/api/pods/failed/{postgres['id']}/impact?minutes=90")
        nobody = await api.get(f"/api/pods/failed/{ledger['id']}/impact")
        impact = f"/api/pods/failed/{postgres['id']}/impact"
        bad = [await api.get(impact, params={"minutes": m}) for m in (0, 1441, "ten")]
        missing = [await api.get(f"/api/pods/failed/{i}/impact") for i in (987654, "abc")]
    assert frame["type"] == "pod_impact"
    data = frame["data"]
    assert (data["id"], data["namespace"], data["pod_name"]) == (
        postgres["id"],
        "shop",
        world.POSTGRES,
    )
    assert [(c["workload"], c["flows"], c["drops"]) for c in data["callers"]] == [
        ("ledger/Deployment/ledger", 2, 2),
        ("shop/Deployment/api", 2, 0),
    ]
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert (answer["id"], answer["minutes_before"], answer["minutes_after"]) == (
        postgres["id"],
        10,
        2,
    )
    assert answer["services"] == ["shop/postgres"]
    assert [
        (c["workload"], c["flows"], c["hits"], c["drops"], c["ports"], c["via"])
        for c in answer["callers"]
    ] == [
        ("ledger/Deployment/ledger", 2, 2, 2, ["5432/TCP"], ["service:shop/postgres"]),
        ("shop/Deployment/api", 2, 2, 0, ["5432/TCP"], ["pod", "service:shop/postgres"]),
    ]
    assert wider.status_code == 200, wider.text
    assert [c["workload"] for c in wider.json()["callers"]][-1] == "shop/CronJob/report"
    assert nobody.status_code == 200 and nobody.json()["callers"] == []
    for resp in bad:
        assert resp.status_code == 400, resp.text
        assert "minutes" in resp.json()["detail"], resp.json()
    for resp in missing:
        assert resp.status_code == 404, resp.text
        assert resp.json()["detail"] == "Pod failure not found"
