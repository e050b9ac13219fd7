"""Every new finding is announced on the feed, even when security dies between storing it
and announcing it (issue 13: "every new ... announced once").

The crash is reproduced as a kill leaves it: the first try of a message stores its findings
and cannot announce them (the ``FEED`` stream is away), and is not acked; the same message
is then handled again, as its redelivery would be. Real nats-server and SecantusDB.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo import AsyncMongoClient

from kubeward.core.app_settings import AppSettings
from kubeward.core.bus import ensure_streams
from kubeward.core.mongo import Document
from kubeward.devstack.testing import stored_messages
from kubeward.schemas import bus
from kubeward.schemas.security import (
    FindingBatch,
    FindingEnvelope,
    ManifestBatch,
    ManifestEnvelope,
    SecurityFindingIn,
)
from kubeward.schemas.settings import KEYS
from kubeward.security.handlers import FindingHandler, ManifestHandler
from kubeward.security.registries import Registries
from kubeward.security.scanning import BuiltinScanner
from kubeward.security.store import FINDINGS, FindingStore

SECRET = "security-announcements-secret"


def privileged_pod(name: str) -> dict[str, Any]:
    """A Pod the built-in scanner raises ``privileged-container`` on."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "containers": [
                {"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": True}}
            ]
        },
    }


async def announced(nc: NATS) -> list[str]:
    """``resource_name`` of every ``security_finding`` event in ``FEED``."""
    msgs = await stored_messages(nc, bus.feed_subject("security_finding"), bus.FEED.name)
    return sorted(msgspec.json.decode(m.data)["data"]["resource_name"] for m in msgs)


@pytest.fixture
async def settings(nc: NATS) -> AsyncIterator[AppSettings]:
    """The admin settings the handlers read exclusions from."""
    async with await AppSettings.open(nc.jetstream(), SECRET, keys=KEYS) as opened:
        yield opened


async def crash_then_redeliver(
    nc: NATS, subject: str, data: bytes, handler: Callable[[list[Msg]], Awaitable[None]]
) -> Msg:
    """Publish ``data``, give the first delivery to ``handler`` with the feed away (it
    stores, cannot announce, is not acked), then the redelivery with the feed back."""
    js = nc.jetstream()
    await js.publish(subject, data)
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0, max_deliver=5)
    sub = await js.pull_subscribe(subject, durable="crashy", config=config)
    (first,) = await sub.fetch(1, timeout=5)
    await js.delete_stream(bus.FEED.name)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(handler([first]), 5.0)
    await ensure_streams(js, bus.STREAMS)
    assert await announced(nc) == []
    (again,) = await sub.fetch(1, timeout=10)
    assert again.metadata.num_delivered == 2
    await handler([again])
    return again


async def test_a_scanner_finding_stored_but_not_announced_is_announced_on_redelivery(
    nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str, settings: AppSettings
) -> None:
    await ensure_streams(nc.jetstream(), bus.STREAMS)
    store = FindingStore(mongo[mongo_db_name])
    await store.ensure_indexes()
    handler = FindingHandler(nc, store, settings)
    finding = SecurityFindingIn(
        resource_type="Pod",
        resource_name="api-1",
        namespace="shop",
        check_name="privileged_container",
        severity="critical",
        message="privileged",
    )
    batch = FindingBatch(findings=[FindingEnvelope(origin_seq=7, index=0, finding=finding)])
    again = await crash_then_redeliver(
        nc, bus.SECURITY_FINDINGS, msgspec.msgpack.encode(batch), handler
    )
    assert await announced(nc) == ["api-1"]
    assert await mongo[mongo_db_name][FINDINGS].count_documents({}) == 1

    await handler([again])  # once more (its ack lost): the stream drops the repeat
    assert await announced(nc) == ["api-1"]

    # The same finding sent again by another message updates it and announces nothing.
    later = FindingBatch(findings=[FindingEnvelope(origin_seq=8, index=0, finding=finding)])
    await nc.jetstream().publish(bus.SECURITY_FINDINGS, msgspec.msgpack.encode(later))
    sub = await nc.jetstream().pull_subscribe(bus.SECURITY_FINDINGS, durable="later")
    *_earlier, newest = await sub.fetch(2, timeout=5)
    assert msgspec.msgpack.decode(newest.data, type=FindingBatch).findings[0].origin_seq == 8
    await handler([newest])
    assert await announced(nc) == ["api-1"]


async def test_a_manifest_finding_stored_but_not_announced_is_announced_on_redelivery(
    nc: NATS, mongo: AsyncMongoClient[Document], mongo_db_name: str, settings: AppSettings
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    db = mongo[mongo_db_name]
    store = FindingStore(db)
    await store.ensure_indexes()
    handler = ManifestHandler(nc, BuiltinScanner(js, store, Registries(db), settings))
    batch = ManifestBatch(
        manifests=[ManifestEnvelope(origin_seq=9, objects=[privileged_pod("web-1")])]
    )
    again = await crash_then_redeliver(
        nc, bus.SECURITY_MANIFESTS, msgspec.msgpack.encode(batch), handler
    )
    names = await announced(nc)
    assert names and set(names) == {"web-1"}
    stored = await db[FINDINGS].count_documents({})
    assert len(names) == stored  # every stored finding, once

    await handler([again])
    assert await announced(nc) == names
