"""What every scan reads and rarely changes (the trusted registries, the namespaces with a
NetworkPolicy) is read once per few seconds, not once per failed pod, and a change made
through this process counts at once; a batch of pods is stored in a few round trips.
Real SecantusDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack.testing import Commands
from kubeward.security.registries import COLLECTION as SETTINGS
from kubeward.security.registries import Registries
from kubeward.security.store import FINDINGS, MANIFESTS, FindingStore, Scanned


@pytest.fixture
async def watched(
    mongo_url: str, mongo_db_name: str
) -> AsyncIterator[tuple[AsyncMongoClient[Document], Commands]]:
    """A client whose commands are recorded; its database is dropped afterwards."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    yield client, commands
    await client.drop_database(mongo_db_name)
    await client.close()


async def test_trusted_registries_are_read_once_and_a_change_counts_at_once(
    watched: tuple[AsyncMongoClient[Document], Commands], mongo_db_name: str
) -> None:
    client, commands = watched
    registries = Registries(client[mongo_db_name])
    await registries.ensure()
    first = await registries.current()
    for _ in range(5):
        assert await registries.current() == first
    assert commands.finds().count(SETTINGS) == 1
    assert await registries.add("registry.acme.example")
    assert "registry.acme.example" in await registries.current()
    assert await registries.remove("registry.acme.example")
    assert "registry.acme.example" not in await registries.current()


def network_policy(namespace: str) -> dict[str, object]:
    """A NetworkPolicy manifest as stored for scans."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}},
    }


async def test_network_policy_namespaces_are_read_once_and_follow_this_store(
    watched: tuple[AsyncMongoClient[Document], Commands], mongo_db_name: str
) -> None:
    client, commands = watched
    store = FindingStore(client[mongo_db_name])
    await store.ensure_indexes()
    assert await store.network_policy_namespaces() == frozenset()
    assert await store.network_policy_namespaces() == frozenset()
    assert commands.finds().count(MANIFESTS) == 1
    await store.save_manifests([(network_policy("shop"), "shop")])
    assert await store.network_policy_namespaces() == {"shop"}
    await store.delete_resource("NetworkPolicy", "shop", "default-deny")
    assert await store.network_policy_namespaces() == frozenset()


def finding(resource: str, check: str) -> tuple[str, Document]:
    """A built-in finding about pod ``resource``: (key, fields)."""
    fields: Document = {"resource_type": "Pod", "resource_name": resource, "namespace": "shop"}
    return f"Pod/shop/{resource}/{check}", fields | {"check_name": check, "source": "builtin"}


async def test_a_batch_of_resources_costs_a_few_round_trips_not_a_few_per_resource(
    mongo_url: str, mongo_db_name: str
) -> None:
    """A failed-pod batch scans many pods at once: their findings are read per namespace,
    created in one insert and updated in one bulk write (3 round trips per pod before)."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    try:
        store = FindingStore(client[mongo_db_name])
        await store.ensure_indexes()
        pods = [f"checkout-{n}" for n in range(30)]
        first = [
            Scanned("Pod", "shop", pod, [finding(pod, "privileged"), finding(pod, "no-limits")])
            for pod in pods
        ]
        commands.clear()
        created = await store.replace_builtin_many(first)
        assert [len(docs) for docs in created] == [2] * 30
        assert len({doc["_id"] for docs in created for doc in docs}) == 60
        assert sorted(commands.names) == ["find", "findAndModify", "insert"]

        # The next scan: one finding gone, one new, one kept; each pod's own outcome.
        again = [
            Scanned("Pod", "shop", pod, [finding(pod, "privileged"), finding(pod, "latest-tag")])
            for pod in pods
        ]
        commands.clear()
        created = await store.replace_builtin_many(again)
        assert [[doc["check_name"] for doc in docs] for docs in created] == [["latest-tag"]] * 30
        # the kept finding is unchanged: not rewritten (see the next test)
        assert sorted(commands.names) == ["delete", "find", "findAndModify", "insert"]
        stored = await client[mongo_db_name][FINDINGS].find({}, {"key": 1}).to_list(None)
        assert sorted(doc["key"] for doc in stored) == sorted(
            key for item in again for key, _ in item.findings
        )
    finally:
        await client.drop_database(mongo_db_name)
        await client.close()


async def test_findings_raised_again_unchanged_are_not_rewritten_until_last_seen_ages(
    watched: tuple[AsyncMongoClient[Document], Commands], mongo_db_name: str
) -> None:
    """A failed pod's findings are raised on each of its reports: unchanged ones are left
    as stored while their ``last_seen`` is within the resolution (on SecantusDB an update
    costs 1-2 ms whatever it changes); changed fields are written at once."""
    client, commands = watched
    store = FindingStore(client[mongo_db_name], seen_resolution=3600)
    await store.ensure_indexes()
    pods = [f"checkout-{n}" for n in range(5)]
    scans = [Scanned("Pod", "shop", p, [finding(p, "privileged")]) for p in pods]
    await store.replace_builtin_many(scans)
    findings = client[mongo_db_name][FINDINGS]
    before = {d["key"]: d async for d in findings.find()}

    commands.clear()
    assert await store.replace_builtin_many(scans) == [[]] * 5
    assert commands.names == ["find"]  # read, nothing written
    assert {d["key"]: d async for d in findings.find()} == before

    key, fields = finding("checkout-0", "privileged")
    changed = [Scanned("Pod", "shop", "checkout-0", [(key, fields | {"severity": "high"})])]
    commands.clear()
    await store.replace_builtin_many([*changed, *scans[1:]])
    assert commands.names == ["find", "update"]
    stored = await findings.find_one({"key": key})
    assert stored is not None
    assert stored["severity"] == "high"
    assert stored["last_seen"] >= before[key]["last_seen"]

    # Past the resolution a rescan moves last_seen (here: none, and an old last_seen).
    long_ago = before[key]["last_seen"].replace(year=2020)
    await findings.update_many({}, {"$set": {"last_seen": long_ago}})
    eager = FindingStore(client[mongo_db_name], seen_resolution=0)
    commands.clear()
    await eager.replace_builtin_many(scans[1:])
    assert commands.names == ["find", "update"]
    for p in pods[1:]:
        key = finding(p, "privileged")[0]
        after = await findings.find_one({"key": key})
        assert after is not None
        assert after["last_seen"] >= before[key]["last_seen"] > long_ago
        assert after["first_seen"] == before[key]["first_seen"]


async def test_a_finding_another_writer_changed_is_rewritten_by_the_next_scan(
    watched: tuple[AsyncMongoClient[Document], Commands], mongo_db_name: str
) -> None:
    """The digest follows every write of a finding's fields: a finding an external scanner
    reported under the same key is not mistaken for the built-in one left unchanged."""
    client, _ = watched
    store = FindingStore(client[mongo_db_name], seen_resolution=3600)
    await store.ensure_indexes()
    key, fields = finding("checkout-0", "privileged")
    scan = [Scanned("Pod", "shop", "checkout-0", [(key, fields)])]
    await store.replace_builtin_many(scan)
    external = fields | {"source": "scanner", "severity": "low"}
    _, new = await store.upsert(key, external)
    assert not new
    await store.replace_builtin_many(scan)
    stored = await client[mongo_db_name][FINDINGS].find_one({"key": key})
    assert stored is not None
    assert stored["source"] == "builtin"  # "scanner" had the scan been skipped


def pod(name: str, image: str) -> dict[str, object]:
    """A Pod manifest as scans store it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


async def test_manifests_are_inserted_when_new_replaced_when_changed_and_left_when_same(
    mongo_url: str, mongo_db_name: str
) -> None:
    """A failed pod reported again brings the manifest already stored: nothing is written
    (an upsert costs an update on SecantusDB, several times an insert)."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    try:
        store = FindingStore(client[mongo_db_name])
        await store.ensure_indexes()
        first = [(pod(f"web-{n}", "nginx:1.27"), "shop") for n in range(5)]
        commands.clear()
        await store.save_manifests(first)
        assert commands.names == ["find", "insert"]
        commands.clear()
        await store.save_manifests(first)
        assert commands.names == ["find"]  # the same five: nothing written

        # A resource listed twice keeps its last; a changed one is replaced.
        changed = [(pod("web-0", "nginx:1.28"), "shop"), (pod("web-0", "nginx:1.29"), "shop")]
        commands.clear()
        await store.save_manifests([*changed, first[1]])
        assert commands.names == ["find", "update"]
        assert (await store.manifest("Pod", "shop", "web-0")) == pod("web-0", "nginx:1.29")
        assert (await store.manifest("Pod", "shop", "web-1")) == pod("web-1", "nginx:1.27")

        # One stored before digests were kept is replaced once, then left alone.
        await client[mongo_db_name][MANIFESTS].update_one(
            {"_id": "Pod/shop/web-2"}, {"$unset": {"digest": ""}}
        )
        commands.clear()
        await store.save_manifests([first[2]])
        await store.save_manifests([first[2]])
        assert commands.names == ["find", "update", "find"]
    finally:
        await client.drop_database(mongo_db_name)
        await client.close()
