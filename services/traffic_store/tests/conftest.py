"""Fixtures of traffic-store's tests.

``store`` is the pod-traffic store; the modules that test another store (HTTP traffic, the
inventory) define a ``store`` of their own, which pytest prefers to this one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore


@pytest.fixture
async def store(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[PodTrafficStore]:
    """A pod-traffic store on a fresh database."""
    s = PodTrafficStore(mongo[mongo_db_name][COLLECTION], ephemeral_port_min=32768)
    await s.ensure_indexes()
    yield s
    await mongo.drop_database(mongo_db_name)
