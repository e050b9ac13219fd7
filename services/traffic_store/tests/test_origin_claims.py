"""Claims of collect messages: who owns a group, and how long a claim is kept."""

from __future__ import annotations

from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficGroup
from kubeward.traffic_store.origin_claims import (
    COLLECTION,
    PRUNE_EVERY_SECONDS,
    OriginClaims,
    claim_id,
)


def carrying(seq: int, *origins: int) -> tuple[int, PodTrafficBatch]:
    """TRAFFIC message ``seq`` carrying (empty) groups of collect messages ``origins``."""
    return seq, PodTrafficBatch([PodTrafficGroup(o, None, [], origin_us=7) for o in origins])


def kept(messages: list[tuple[int, PodTrafficBatch]]) -> dict[int, list[int]]:
    return {seq: [g.origin_seq for g in batch.groups] for seq, batch in messages}


async def test_each_group_goes_to_one_carrier_and_stays_there(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    claims = OriginClaims(mongo[mongo_db_name][COLLECTION])
    await claims.ensure_indexes()
    # Within one write the lowest sequence wins, whatever the order given.
    assert kept(await claims.own([carrying(12, 2, 3), carrying(11, 1, 2)])) == {
        12: [3],
        11: [1, 2],
    }
    # Later: a claimant keeps its groups (a redelivery), another carrier gets none of them.
    assert kept(await claims.own([carrying(13, 3, 4), carrying(12, 2, 3)])) == {
        13: [4],
        12: [3],
    }
    assert kept(await claims.own([carrying(14)])) == {14: []}


async def test_claims_older_than_the_keep_time_are_deleted(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    col = mongo[mongo_db_name][COLLECTION]
    now = [1_000_000.0]
    claims = OriginClaims(col, keep_seconds=3600, clock=lambda: now[0])
    await claims.ensure_indexes()
    await claims.own([carrying(1, 1, 2)])
    now[0] += 1800
    await claims.own([carrying(2, 3)])  # pruned a moment ago: not yet again
    assert await col.count_documents({}) == 3
    now[0] += 1800 + PRUNE_EVERY_SECONDS
    await claims.own([carrying(3, 4)])
    remaining = sorted(d["_id"] for d in await col.find({}, {"_id": 1}).to_list())
    group = PodTrafficGroup(3, None, [], origin_us=7)
    assert remaining == sorted([claim_id(group), "4:7"])
