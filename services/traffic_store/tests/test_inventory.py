"""Integration tests: the kguardian inventory store against a real MongoDB wire server.

Pins the broker's upsert semantics (kguardian-dev/kguardian broker/src/add.rs @
00cc19b8d574b96fffc15fe4e76999b2f9062b43): one row per pod name, a null never overwrites,
mark-dead checks the IP when given; and kubeward's IP history (who held an IP when).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.schemas.inventory import InventoryGroup, InventoryQuery, PodDetail
from kubeward.traffic_store.inventory import IP_HISTORY, InventoryStore


def pod(name: str, ip: str, at: str, **changes: Any) -> bytes:
    """A normalised pod-spec record (as ingest forwards it)."""
    record = PodDetail(
        pod_name=name,
        pod_ip=ip,
        pod_namespace="shop",
        time_stamp=at,
        node_name="node-a",
        is_dead=False,
        pod_ips=[ip],
    )
    return msgspec.json.encode(msgspec.structs.replace(record, **changes))


def group(kind: Any, *records: bytes, origin_us: int = 1_778_580_000_000_000) -> InventoryGroup:
    """One collect message's records."""
    return InventoryGroup(1, origin_us, None, kind, list(records))


@pytest.fixture
async def store(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[InventoryStore]:
    """A store on a fresh database."""
    s = InventoryStore(mongo[mongo_db_name])
    await s.ensure_indexes()
    yield s
    await mongo.drop_database(mongo_db_name)


async def holder(store: InventoryStore, ip: str, at: str | None = None) -> str | None:
    """The pod name ``/pod/ip/{ip}`` answers (``None`` for its 404)."""
    reply = await store.query(InventoryQuery(lookup="pod-by-ip", key=ip, at=at))
    if reply.status == 404:
        return None
    name: str = msgspec.json.decode(reply.body)["pod_name"]
    return name


async def test_redelivered_groups_change_nothing(
    store: InventoryStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    spec = group("pod-spec", pod("a", "10.0.0.7", "2026-01-01T00:00:00.000000"))
    dead = group("pod-dead", b'{"pod_name": "a", "pod_ip": "10.0.0.7"}')
    for _ in range(2):
        await store.apply(spec)
    assert await store.apply(dead) == b"1"
    assert await store.apply(dead) == b"1"
    intervals = await mongo[mongo_db_name][IP_HISTORY].find({}).to_list()
    assert len(intervals) == 1
    assert intervals[0]["until"] == "2026-05-12T10:00:00.000000"  # the message's stream time
    assert await holder(store, "10.0.0.7", "2026-03-01T00:00:00.000000") == "a"
    assert await holder(store, "10.0.0.7", "2026-06-01T00:00:00.000000") is None


async def test_an_ip_passes_from_pod_to_pod(store: InventoryStore) -> None:
    await store.apply(group("pod-spec", pod("a", "10.0.0.7", "2026-01-01T00:00:00.000000")))
    later = pod(
        "b", "10.0.0.7", "2026-03-01T00:00:00.000000", started_at="2026-02-28T00:00:00.000000"
    )
    await store.apply(group("pod-spec", later))
    assert await holder(store, "10.0.0.7", "2026-02-27T23:59:59.999999") == "a"
    assert await holder(store, "10.0.0.7", "2026-02-28T00:00:00.000000") == "b"
    assert await holder(store, "10.0.0.7", "2025-12-31T00:00:00.000000") is None
    assert await holder(store, "10.0.0.7") == "b"
    # a's restart on a new IP closes nothing of b's and opens a's new interval
    await store.apply(group("pod-spec", pod("a", "10.0.0.8", "2026-04-01T00:00:00.000000")))
    assert await holder(store, "10.0.0.8", "2026-04-02T00:00:00.000000") == "a"
    assert await holder(store, "10.0.0.7", "2026-04-02T00:00:00.000000") == "b"


async def test_nulls_never_overwrite_and_mark_dead_checks_the_ip(store: InventoryStore) -> None:
    first = pod(
        "a", "10.0.0.7", "2026-01-01T00:00:00.000000", pod_obj={"metadata": {}}, workload_kind="Job"
    )
    await store.apply(group("pod-spec", first))
    await store.apply(group("pod-spec", pod("a", "10.0.0.7", "2026-01-02T00:00:00.000000")))
    row = msgspec.json.decode(
        (await store.query(InventoryQuery(lookup="pod-by-name", key="a"))).body
    )
    assert row["pod_obj"] == {"metadata": {}} and row["workload_kind"] == "Job"
    assert row["time_stamp"] == "2026-01-02T00:00:00"
    assert await store.apply(group("pod-dead", b'{"pod_name": "a", "pod_ip": "10.9.9.9"}')) == b"0"
    assert await store.apply(group("pod-dead", b'{"pod_name": ""}')) == b"0"
    listed = await store.query(InventoryQuery(lookup="pods-on-node", key="node-a"))
    assert len(msgspec.json.decode(listed.body)) == 1


async def test_a_late_spec_does_not_cut_the_newer_holder(store: InventoryStore) -> None:
    await store.apply(group("pod-spec", pod("b", "10.0.0.7", "2026-03-01T00:00:00.000000")))
    await store.apply(group("pod-spec", pod("a", "10.0.0.7", "2026-01-01T00:00:00.000000")))
    assert await holder(store, "10.0.0.7", "2026-02-01T00:00:00.000000") == "a"
    assert await holder(store, "10.0.0.7", "2026-04-01T00:00:00.000000") == "b"
