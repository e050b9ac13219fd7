"""Integration tests: the traffic around a failed pod (its DROPs with the policy that would
allow them, and its callers) over the world of ``devstack.cluster_world`` stored in a real
MongoDB wire server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from kubernetes.client import ApiClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.devstack import cluster_world as world
from kubeward.devstack.testing import Commands
from kubeward.schemas.network import (
    DropQueries,
    DropQuery,
    DropReport,
    DropReports,
    ImpactQuery,
    ImpactReport,
)
from kubeward.traffic_store.failure_traffic import DropCopies
from kubeward.traffic_store.inventory import PODS
from kubeward.traffic_store.network_service import NetworkService
from kubeward.traffic_store.pod_traffic import (
    COLLECTION,
    DROPS_SPAN,
    SPANS,
    PodTrafficStore,
    sightings,
)
from kubeward.traffic_store.rare_flows import COLLECTION as RARE
from kubeward.traffic_store.rare_flows import MARKER as RARE_MARKER

LoadWorld = Callable[..., Awaitable[None]]
"""conftest's ``load_world``."""

WINDOW = {"since": world.at("10:25:00"), "until": world.at("10:36:00")}
POSTGRES_REFUSES_LEDGER = world.flow(
    21, world.POSTGRES, "shop", "INGRESS", "10.244.4.40", "5432", "52002", decision="DROP"
)


@pytest.fixture
async def db(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[AsyncDatabase[Document]]:
    """An empty database, dropped afterwards."""
    yield mongo[mongo_db_name]
    await mongo.drop_database(mongo_db_name)


def valid_network_policy(obj: dict[str, Any]) -> Any:
    """``obj`` as the official client's ``V1NetworkPolicy``, serialised back unchanged."""
    client = ApiClient()
    model = client._ApiClient__deserialize(obj, "V1NetworkPolicy")  # type: ignore[attr-defined]
    assert client.sanitize_for_serialization(model) == obj
    return model


async def drops(
    db: AsyncDatabase[Document], copies: DropCopies | None = None, **query: Any
) -> DropReport:
    reply = await NetworkService(db, copies).drops(DropQuery(**WINDOW | query))
    assert reply.status == 200, reply.detail
    return msgspec.json.decode(reply.body, type=DropReport)


async def test_ledger_drops_name_the_peer_the_count_and_an_egress_fix(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    await load_world(db)
    found = await drops(db, namespace="ledger", pod_name=world.LEDGER)
    assert found.pod_ips == ["10.244.4.40"]
    [peer] = found.peers
    assert (peer.source, peer.destination, peer.dropped_at, peer.via) == (
        "ledger/Deployment/ledger",
        "shop/StatefulSet/postgres",
        "egress",
        "pod",
    )
    assert (peer.peer_workload, peer.peer_namespace, peer.peer_kind, peer.peer_name) == (
        "shop/StatefulSet/postgres",
        "shop",
        "StatefulSet",
        "postgres",
    )
    assert (peer.peer_service, peer.dialled_port, peer.port, peer.protocol) == (
        "shop/postgres",
        "5432",
        "postgresql",  # the Service's named target port
        "TCP",
    )
    assert peer.drops == 2
    assert sorted(f.pod_port for f in peer.flows) == ["52000", "52001"]
    assert peer.fix is not None
    policy = valid_network_policy(peer.fix)
    assert policy.metadata.namespace == "ledger"
    assert policy.spec.policy_types == ["Egress"]
    assert policy.spec.ingress is None
    assert policy.spec.pod_selector.match_labels == {"app": "ledger"}
    [rule] = policy.spec.egress
    assert rule.to[0].pod_selector.match_labels == {"app": "postgres"}
    assert rule.to[0].namespace_selector.match_labels == {"kubernetes.io/metadata.name": "shop"}
    assert [(p.protocol, p.port) for p in rule.ports] == [("TCP", "postgresql")]


async def test_a_drop_seen_at_the_other_end_gets_an_ingress_fix_there(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    events = [e for e in world.traffic() if e["decision"] == "ALLOW"]
    await load_world(db, [*events, POSTGRES_REFUSES_LEDGER])
    found = await drops(db, namespace="ledger", pod_name=world.LEDGER)
    [peer] = found.peers
    assert (peer.source, peer.destination, peer.dropped_at, peer.via) == (
        "ledger/Deployment/ledger",
        "shop/StatefulSet/postgres",
        "ingress",
        "peer",
    )
    assert (peer.peer_workload, peer.peer_ip, peer.port, peer.drops) == (
        "shop/StatefulSet/postgres",
        "10.244.3.30",
        "5432",
        1,
    )
    assert peer.fix is not None
    policy = valid_network_policy(peer.fix)
    assert (policy.metadata.namespace, policy.spec.policy_types) == ("shop", ["Ingress"])
    assert policy.spec.pod_selector.match_labels == {"app": "postgres"}
    [rule] = policy.spec.ingress
    assert rule._from[0].pod_selector.match_labels == {"app": "ledger"}
    assert rule._from[0].namespace_selector.match_labels == {
        "kubernetes.io/metadata.name": "ledger"
    }


async def test_an_address_from_the_logs_finds_its_namespace_drops(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    await load_world(db)
    # A pod the inventory does not know: only the address its logs name leads to drops.
    stranger = {"namespace": "ledger", "pod_name": "ledger-migrate-x7k2p"}
    assert (await drops(db, **stranger)).peers == []
    for address in ("postgres.shop", "postgres.shop.svc.cluster.local", "10.96.10.30"):
        found = await drops(db, **stranger, addresses=[address])
        assert [(p.via, p.destination, p.drops) for p in found.peers] == [
            ("address", "shop/StatefulSet/postgres", 2)
        ], address
    assert (await drops(db, **stranger, addresses=["postgres", "db.example.com"])).peers == []


async def test_no_drops_no_peers(db: AsyncDatabase[Document], load_world: LoadWorld) -> None:
    await load_world(db, [e for e in world.traffic() if e["decision"] == "ALLOW"])
    assert (await drops(db, namespace="ledger", pod_name=world.LEDGER)).peers == []
    await db[COLLECTION].drop()
    await load_world(db)
    # the drops are at 10:30: a failure at noon does not see them
    later = {"since": world.at("11:50:00"), "until": world.at("12:01:00")}
    assert (await drops(db, namespace="ledger", pod_name=world.LEDGER, **later)).peers == []


async def test_impact_lists_the_callers_with_connections_counted_once(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    await load_world(db)
    service = NetworkService(db)
    query = ImpactQuery(namespace="shop", pod_name=world.POSTGRES, **WINDOW)
    reply = await service.impact(query)
    assert reply.status == 200, reply.detail
    found = msgspec.json.decode(reply.body, type=ImpactReport)
    assert found.services == ["shop/postgres"]
    assert found.flows == 4
    assert [
        (c.workload, c.flows, c.hits, c.drops, c.dropped_hits, c.ports, c.via)
        for c in found.callers
    ] == [
        ("ledger/Deployment/ledger", 2, 2, 2, 2, ["5432/TCP"], ["service:shop/postgres"]),
        ("shop/Deployment/api", 2, 2, 0, 0, ["5432/TCP"], ["pod", "service:shop/postgres"]),
    ]
    # an hour back also finds the report job that held 10.244.2.99 at 09:30
    earlier = msgspec.structs.replace(query, since=world.at("09:20:00"))
    found = msgspec.json.decode((await service.impact(earlier)).body, type=ImpactReport)
    assert [c.workload for c in found.callers] == [
        "ledger/Deployment/ledger",
        "shop/Deployment/api",
        "shop/CronJob/report",
    ]
    nobody = ImpactQuery(namespace="ledger", pod_name=world.LEDGER, **WINDOW)
    found = msgspec.json.decode((await service.impact(nobody)).body, type=ImpactReport)
    assert (found.callers, found.flows) == ([], 0)


async def test_no_drop_seen_in_the_window_reads_no_flow(
    mongo_url: str, db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """Most failed pods have no DROP around them: their search stops at the DROP span
    (traffic-store writes it with the flows), without reading flows, and still names the
    pod's addresses."""
    await load_world(db, [e for e in world.traffic() if e["decision"] == "ALLOW"])
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    try:
        found = await drops(client[db.name], namespace="ledger", pod_name=world.LEDGER)
        assert (found.peers, found.pod_ips) == ([], ["10.244.4.40"])
        assert COLLECTION not in commands.finds(), commands.finds()

        # DROPs seen before the window do not count; one seen in it is read and found.
        early = world.flow(
            22, world.POSTGRES, "shop", "INGRESS", "10.244.4.40", "5432", "52003", clock="09:00:00"
        )
        await load_world(db, [early | {"decision": "DROP"}])
        commands.clear()
        assert (await drops(client[db.name], namespace="ledger", pod_name=world.LEDGER)).peers == []
        assert COLLECTION not in commands.finds()
        await load_world(db, [POSTGRES_REFUSES_LEDGER])
        [peer] = (await drops(client[db.name], namespace="ledger", pod_name=world.LEDGER)).peers
        assert (peer.dropped_at, peer.via) == ("ingress", "peer")
    finally:
        await client.close()


async def test_a_batch_of_drop_searches_answers_each_as_alone_with_one_inventory_read(
    mongo_url: str, db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """failure-analyzer asks for a fetched batch of reports at once: each answer is the one
    the pod gets alone, in order, and the pods' inventory entries are one read."""
    await load_world(db)
    queries = [
        DropQuery(namespace="ledger", pod_name=world.LEDGER, **WINDOW),
        DropQuery(namespace="shop", pod_name=world.POSTGRES, **WINDOW),
        DropQuery(namespace="shop", pod_name="not-in-the-inventory", **WINDOW),
        DropQuery(namespace="ledger", pod_name=world.LEDGER, **WINDOW),
    ]
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    try:
        watched = client[db.name]
        alone = [await drops(watched, **msgspec.to_builtins(q)) for q in queries]
        assert alone[0].peers and alone[2].peers == []
        reads_alone = commands.finds()
        commands.clear()
        reply = await NetworkService(watched).drops_many(DropQueries(queries=queries))
        assert reply.status == 200, reply.detail
        answer = msgspec.json.decode(reply.body, type=DropReports)
        assert answer.reports == alone
        assert commands.finds().count(SPANS) == 1 < reads_alone.count(SPANS)
        # the four subjects are one read; resolving the flows' peers reads the rest
        assert commands.finds().count(PODS) <= reads_alone.count(PODS) - 3
        # and it says what the newest DROP sighting is, for failures in later windows
        seen = await sightings(watched)
        assert (answer.newest_flow, answer.newest_drop) == (seen.newest_flow, seen.newest_drop)
        assert answer.newest_drop
        # and the newest sighting of any flow (callers of failures in later windows)
        assert answer.newest_flow and answer.newest_flow >= answer.newest_drop
    finally:
        await client.close()


async def test_drops_stored_before_the_drop_span_was_kept_are_found(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """A database written by an earlier version has DROP flows and no DROP span: the first
    start records it (one scan), so the search is not skipped."""
    await load_world(db)
    expected = await drops(db, namespace="ledger", pod_name=world.LEDGER)
    assert expected.peers
    await db[SPANS].delete_one({"_id": DROPS_SPAN})
    assert (await drops(db, namespace="ledger", pod_name=world.LEDGER)).peers == expected.peers
    await PodTrafficStore(db[COLLECTION], 32768).ensure_indexes()  # the upgraded start
    assert (await sightings(db)).newest_drop == world.at("10:30:00")
    assert (await drops(db, namespace="ledger", pod_name=world.LEDGER)).peers == expected.peers


async def test_reads_use_the_indexes(db: AsyncDatabase[Document], load_world: LoadWorld) -> None:
    await load_world(db)
    keys = [list(index["key"]) async for index in await db[COLLECTION].list_indexes()]
    assert ["traffic_in_out_ip", "time_stamp"] in keys
    assert ["pod_name", "time_stamp", "uuid"] in keys
    rare_keys = [list(index["key"]) async for index in await db[RARE].list_indexes()]
    assert ["pod_name", "time_stamp"] in rare_keys  # a DROP storm's search
    assert ["traffic_in_out_ip", "time_stamp"] in rare_keys


async def test_the_drop_search_reads_the_windows_drops_not_the_pods_flows(
    mongo_url: str, db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """A busy failed pod: its DROPs are found from the DROP copies of the window, and of
    its flows only those DROPs are read (by key), not the hundreds it allowed."""
    busy = [
        world.flow(
            1000 + n,
            world.LEDGER,
            "ledger",
            "EGRESS",
            f"10.9.{n // 200}.{n % 200}",
            "40000",
            "443",
            clock=f"10:{25 + n % 10}:00",
        )
        for n in range(400)
    ]
    await load_world(db, [*world.traffic(), *busy, POSTGRES_REFUSES_LEDGER])
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    try:
        found = await drops(client[db.name], namespace="ledger", pod_name=world.LEDGER)
        # The ledger's own two DROPs to postgres, and postgres refusing it.
        assert sorted((p.via, p.drops) for p in found.peers) == [("peer", 1), ("pod", 2)]
        flow_reads = [
            f
            for c, f in zip(commands.finds(), commands.find_filters, strict=True)
            if c == COLLECTION
        ]
        assert flow_reads and all(set(f) == {"_id"} for f in flow_reads), flow_reads
        assert commands.rows_read < 100, commands.rows_read  # 400+ flows in the window
    finally:
        await client.close()


async def test_a_drop_storm_elsewhere_costs_a_search_about_its_cap_of_copies_and_its_own(
    mongo_url: str, db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """Hundreds of DROPs elsewhere in the window (a storm): a search that meets more than
    its cap of copies reads only the copies of the failed pod's workload and addresses;
    once it has seen how dense the copies are, it reads about its cap of them before; for
    a while after a storm was met, none. Each answers what reading every copy answers."""
    minutes = [9 * 60 + 26 + n % 70 for n in range(300)]  # the hour before the window, and it
    storm = [
        world.flow(
            3000 + n,
            world.REPORT,
            "shop",
            "EGRESS",
            f"10.8.{n // 200}.{n % 200}",
            "40000",
            "443",
            clock=f"{minute // 60:02d}:{minute % 60:02d}:{n % 60:02d}",
            decision="DROP",
        )
        for n, minute in enumerate(minutes)
    ]
    await load_world(db, [*world.traffic(), *storm, POSTGRES_REFUSES_LEDGER])
    every_copy = await drops(db, namespace="ledger", pod_name=world.LEDGER)
    assert sorted((p.via, p.drops) for p in every_copy.peers) == [("peer", 1), ("pod", 2)]
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])

    async def search(copies: DropCopies) -> list[tuple[str, dict[str, Any]]]:
        """A search's answer checked; the finds it sent, by collection."""
        commands.clear()
        found = await drops(client[db.name], copies, namespace="ledger", pod_name=world.LEDGER)
        assert found == every_copy
        reads = list(zip(commands.finds(), commands.find_filters, strict=True))
        by_pod = [f for c, f in reads if c == RARE and f.get("pod_name") == world.LEDGER]
        assert by_pod, reads  # the pod's own copies
        assert all(set(f) == {"_id"} for c, f in reads if c == COLLECTION), reads
        return reads

    try:
        rechecking = DropCopies(cap=20, recheck=0)
        await search(rechecking)
        assert commands.rows_read > len(storm)  # no density known yet: the whole range
        assert rechecking.density > 0
        await search(rechecking)
        assert commands.rows_read < 100, commands.rows_read  # 300 copies in the window
        storming = DropCopies(cap=20)
        await search(storming)
        reads = await search(storming)
        assert all("pod_name" in f or "traffic_in_out_ip" in f for c, f in reads if c == RARE)
        assert commands.rows_read < 30, commands.rows_read
    finally:
        await client.close()


async def test_a_database_without_the_drop_copies_searches_the_flows(
    db: AsyncDatabase[Document], load_world: LoadWorld
) -> None:
    """Until traffic-store's first start after the upgrade copies the DROPs, the search
    reads the flows as before, and answers the same."""
    await load_world(db, [*world.traffic(), POSTGRES_REFUSES_LEDGER])
    expected = await drops(db, namespace="ledger", pod_name=world.LEDGER)
    assert len(expected.peers) == 2
    await db[RARE].drop()
    await db[SPANS].delete_one({"_id": RARE_MARKER})
    assert await drops(db, namespace="ledger", pod_name=world.LEDGER) == expected
    await PodTrafficStore(db[COLLECTION], 32768).ensure_indexes()  # the upgraded start
    assert await db[RARE].count_documents({}) > 0
    assert await drops(db, namespace="ledger", pod_name=world.LEDGER) == expected
