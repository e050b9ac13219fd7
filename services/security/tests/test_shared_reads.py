"""What every scan reads and rarely changes (the trusted registries, the namespaces with a
NetworkPolicy) is read once per few seconds, not once per failed pod, and a change made
through this process counts at once. Real SecantusDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, monitoring

from kubeward.core.mongo import Document
from kubeward.security.registries import COLLECTION as SETTINGS
from kubeward.security.registries import Registries
from kubeward.security.store import MANIFESTS, FindingStore


class Finds(monitoring.CommandListener):
    """The collections of the ``find`` commands a client sends."""

    def __init__(self) -> None:
        self.collections: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.collections.append(str(event.command["find"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def watched(
    mongo_url: str, mongo_db_name: str
) -> AsyncIterator[tuple[AsyncMongoClient[Document], Finds]]:
    """A client whose finds are counted; its database is dropped afterwards."""
    finds = Finds()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[finds])
    yield client, finds
    await client.drop_database(mongo_db_name)
    await client.close()


async def test_trusted_registries_are_read_once_and_a_change_counts_at_once(
    watched: tuple[AsyncMongoClient[Document], Finds], mongo_db_name: str
) -> None:
    client, finds = watched
    registries = Registries(client[mongo_db_name])
    await registries.ensure()
    first = await registries.current()
    for _ in range(5):
        assert await registries.current() == first
    assert finds.collections.count(SETTINGS) == 1
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
    watched: tuple[AsyncMongoClient[Document], Finds], mongo_db_name: str
) -> None:
    client, finds = watched
    store = FindingStore(client[mongo_db_name])
    await store.ensure_indexes()
    assert await store.network_policy_namespaces() == frozenset()
    assert await store.network_policy_namespaces() == frozenset()
    assert finds.collections.count(MANIFESTS) == 1
    await store.save_manifests([(network_policy("shop"), "shop")])
    assert await store.network_policy_namespaces() == {"shop"}
    await store.delete_resource("NetworkPolicy", "shop", "default-deny")
    assert await store.network_policy_namespaces() == frozenset()
