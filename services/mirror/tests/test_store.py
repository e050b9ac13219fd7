"""How a mirror's recorded status follows observations from several replicas (real MongoDB
wire server)."""

from __future__ import annotations

from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.mirror.pod_state import DELETED
from kubeward.mirror.store import MirrorStore


async def test_late_or_unordered_observations_never_undo_a_newer_one(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    store = MirrorStore(mongo[mongo_db_name])
    await store.ensure_indexes()
    await store.insert({"_id": "m1", "status": "Pending", "deleted_at": None, "claim_until": None})
    # Without versions (an emulator), observations apply in the order they come.
    assert await store.observe_status("m1", "ContainerCreating", None)
    assert await store.observe_status("m1", "Running", 101)
    assert not await store.observe_status("m1", "Pending", 100)  # an older event, late
    assert not await store.observe_status("m1", "Pending", None)  # cannot be ordered
    assert not await store.observe_status("m1", "Running", 102)  # no change
    assert await store.observe_status("m1", "CrashLoopBackOff", 103)
    assert await store.observe_status("m1", DELETED, None)  # a deletion always counts
    assert not await store.observe_status("m1", "Running", 104)  # and is final
    record = await store.get("m1")
    assert record is not None and record["status"] == DELETED
