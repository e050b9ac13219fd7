"""Fixtures of traffic-store's tests.

``store`` is the pod-traffic store; the modules that test another store (HTTP traffic, the
inventory) define a ``store`` of their own, which pytest prefers to this one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.devstack import cluster_world as world
from kubeward.schemas.inventory import InventoryGroup, PodDetail, PodSyscalls, SvcDetail
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.inventory import InventoryStore
from kubeward.traffic_store.network_flows import FlowReader
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore

LoadWorld = Callable[..., Awaitable[None]]


@pytest.fixture
async def store(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[PodTrafficStore]:
    """A pod-traffic store on a fresh database."""
    s = PodTrafficStore(mongo[mongo_db_name][COLLECTION], ephemeral_port_min=32768)
    await s.ensure_indexes()
    yield s
    await mongo.drop_database(mongo_db_name)


def _records(kind: Any, bodies: list[dict[str, Any]], shape: type) -> InventoryGroup:
    records = [msgspec.json.encode(msgspec.convert(b, shape)) for b in bodies]
    return InventoryGroup(1, 1_778_580_000_000_000, None, kind, records)


async def _load_world(
    db: AsyncDatabase[Document], traffic: list[dict[str, Any]] | None = None
) -> None:
    """The world's inventory and traffic (or ``traffic``), stored as traffic-store stores
    them, with every index traffic-store makes."""
    inventory = InventoryStore(db)
    await inventory.ensure_indexes()
    for pod in world.PODS:  # one at a time: the IP history follows the order
        await inventory.apply(_records("pod-spec", [pod], PodDetail))
    await inventory.apply(_records("svc-spec", world.SERVICES, SvcDetail))
    await inventory.apply(_records("pod-syscalls", world.SYSCALLS, PodSyscalls))
    flows = PodTrafficStore(db[COLLECTION], 32768)
    await flows.ensure_indexes()
    events = msgspec.convert(world.traffic() if traffic is None else traffic, list[PodTrafficEvent])
    await flows.write([(1, PodTrafficBatch([PodTrafficGroup(1, None, events)]))])
    await FlowReader.ensure_indexes(db)


@pytest.fixture
def load_world() -> LoadWorld:
    """``await load_world(db, traffic=None)``: store ``devstack.cluster_world`` in ``db``."""
    return _load_world
