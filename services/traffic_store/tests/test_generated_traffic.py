"""The benchmarks' realistic traffic (``kubeward.devstack.traffic_events``) stored through the
store, windows redelivered: one document per flow as the documented folding rule counts them,
every event counted once. Real SecantusDB."""

from __future__ import annotations

import msgspec
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack.traffic_events import folded_key, generate
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore

_events = msgspec.json.Decoder(list[PodTrafficEvent])


async def test_generated_traffic_is_one_document_per_folded_flow_and_every_event_once(
    store: PodTrafficStore, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    workload = generate(3000, batch=100, duplicate_share=0.6, seed=23)
    messages = [
        (seq, PodTrafficBatch([PodTrafficGroup(seq, None, _events.decode(data))]))
        for seq, data in enumerate(workload.messages, start=1)
    ]
    windows = [messages[i : i + 7] for i in range(0, len(messages), 7)]
    for window in windows:
        await store.write(window)
    await store.write(windows[1], retried={seq for seq, _ in windows[1]})  # a redelivery
    docs = await mongo[mongo_db_name][COLLECTION].find({}, {"hits": 1}).to_list()
    assert len(docs) == workload.distinct
    assert sum(d["hits"] for d in docs) == workload.events
    distinct = {folded_key(e) for _, b in messages for e in b.groups[0].events}
    assert len(distinct) == workload.distinct
