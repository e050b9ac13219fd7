"""Flows with a rare decision or traffic type, copied beside ``pod_traffic`` so that a
listing filtered by one (``decision=DROP``, above all) reads only them.

Nearly every flow kguardian reports is ``ALLOW`` and ``INGRESS`` or ``EGRESS``. A listing
filtered by ``decision=DROP`` walked every flow of its time range to find the few DROPs
(a page of 1 M flows with no DROP read all of them). An index on ``decision`` in
``pod_traffic`` would make every flow's update dearer, since SecantusDB rewrites every index
entry of a document it updates (+13 % per ALLOW update, measured with a partial index), and
updates are most of the traffic path. So each rare flow's row (which never changes after
the flow is created) is inserted here once, with the flow's key as ``_id``, and listed by
the same newest-first ``(time_stamp, uuid)`` key; its counts stay in ``pod_traffic``. A
failed pod's DROP search reads the DROPs of its window here too
(:mod:`~kubeward.traffic_store.failure_traffic`), rather than all of its workload's flows.

The copy is written after the flow (so it is the stored row). A crash between the two is
mended by the message's redelivery: ``PodTrafficStore.created_by`` copies the rare flows
the first delivery created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.mongo import Document, insert_new
from kubeward.schemas.traffic import TRAFFIC_TYPES, PodTrafficEvent

COLLECTION = "pod_traffic_rare"
MARKER = "pod_traffic.rare"
"""The marker (in ``pod_traffic_spans``) saying the flows stored before this collection
existed were copied."""
USUAL_DECISION = "ALLOW"
"""The decision of nearly every flow (a ``null`` one, stored only by a writer bypassing
ingest, counts as this, as ingest reads it)."""
_BATCH = 1000
_ROW_FIELDS = PodTrafficEvent.__struct_fields__


def is_rare(row: PodTrafficEvent | Mapping[str, Any]) -> bool:
    """Whether a flow with this row is kept here."""
    if isinstance(row, PodTrafficEvent):
        return reads_here(row.decision or USUAL_DECISION, row.traffic_type)
    return reads_here(row.get("decision") or USUAL_DECISION, row.get("traffic_type") or "")


def reads_here(decision: str | None, traffic_type: str | None) -> bool:
    """Whether a listing filtered by ``decision`` / ``traffic_type`` (``None``: not
    filtered) lists rare flows only."""
    return (decision is not None and decision != USUAL_DECISION) or (
        traffic_type is not None and traffic_type not in TRAFFIC_TYPES
    )


class RareFlows:
    """The ``pod_traffic_rare`` collection: the rows of the rare flows, by flow key."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.col = collection

    async def ensure_indexes(self) -> None:
        """The newest-first listing index, and the DROP search's indexes for a DROP storm
        (a failed pod's copies by observer and by target address, in a time range)."""
        await self.col.create_index([("time_stamp", DESCENDING), ("uuid", DESCENDING)])
        await self.col.create_index([("pod_name", ASCENDING), ("time_stamp", ASCENDING)])
        await self.col.create_index([("traffic_in_out_ip", ASCENDING), ("time_stamp", ASCENDING)])

    async def add(self, flows: Iterable[tuple[str, PodTrafficEvent]]) -> None:
        """Copy the rare ones of ``flows`` (``(key, stored row)`` pairs); a copy already
        there is left as it is."""
        docs = [{"_id": key} | msgspec.structs.asdict(row) for key, row in flows if is_rare(row)]
        await insert_new(self.col, docs)

    async def copy_existing(
        self, flows: AsyncCollection[Document], markers: AsyncCollection[Document]
    ) -> int:
        """Once per database: copy the rare flows stored before this collection existed
        (a scan of ``flows``, as an index build is; the marker :data:`MARKER` in
        ``markers`` records that it was done). Idempotent, so replicas starting together
        may both run it. Returns how many rare flows it found to copy."""
        if await markers.find_one({"_id": MARKER}) is not None:
            return 0
        rare = {
            "$or": [
                {"decision": {"$nin": [USUAL_DECISION, None]}},
                {"traffic_type": {"$nin": sorted(TRAFFIC_TYPES)}},
            ]
        }
        copied = 0
        batch: list[Document] = []
        async for doc in flows.find(rare, dict.fromkeys(_ROW_FIELDS, 1)):
            if is_rare(doc):  # the same test as the writes' (a missing field is rare there)
                batch.append(doc)
            if len(batch) >= _BATCH:
                await insert_new(self.col, batch)
                copied += len(batch)
                batch = []
        await insert_new(self.col, batch)
        copied += len(batch)
        await markers.update_one({"_id": MARKER}, {"$set": {"done": True}}, upsert=True)
        return copied
