"""Composing arkyn collector logs in traffic-store, against a real MongoDB wire server.

A redelivered message (same origin) and a client's retried post (same bytes, new origin)
must both leave exactly one record and the counters unchanged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.schemas.arkyn import ArkynCommand, ArkynLogIn, HttpLogGroup
from kubeward.schemas.http_traffic import HttpEntityCreate
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.http_entities import HttpEntities
from kubeward.traffic_store.http_log import HttpLogComposer
from kubeward.traffic_store.http_plural import PluralApi
from kubeward.traffic_store.http_traffic import COLLECTION, HttpTrafficStore

T0 = 1_762_442_821_000_000


@pytest.fixture
async def composer(
    mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncIterator[tuple[HttpLogComposer, HttpTrafficStore, str]]:
    """A composer on a fresh database with one traffic source."""
    db = mongo[mongo_db_name]
    entities = HttpEntities(db)
    await entities.ensure_indexes()
    store = HttpTrafficStore(db[COLLECTION], entities)
    await store.ensure_indexes()
    reply = await entities.create(HttpEntityCreate(kind="traffic-source", body=b'{"name": "shop"}'))
    source = json.loads(bytes(reply.body))["id"]
    yield HttpLogComposer(db, store), store, source
    await mongo.drop_database(mongo_db_name)


def group(source: str, seq: int, digest: str, status: int = 200) -> HttpLogGroup:
    record = ArkynLogIn(
        domain_url="https://API.shop.example",
        pathname_url="/cart",
        traffic_source_id=source,
        status=status,
        protocol="https",
        method="POST",
        elapsed_time=5.5,
        request_headers="{}",
        request_body='{"sku":"A"}',
        query_params="{}",
        response_headers="{}",
        response_body="null",
    )
    return HttpLogGroup(
        origin_seq=seq, origin_us=T0 + seq, reply_to=None, digest=digest, record=record
    )


async def test_redelivery_and_retries_store_one_record(
    composer: tuple[HttpLogComposer, HttpTrafficStore, str],
    mongo: AsyncMongoClient[Document],
    mongo_db_name: str,
) -> None:
    compose, store, source = composer
    first = await compose.compose(group(source, 1, "d1"))
    assert (first.status, first.count) == (200, 1)
    redelivered = await compose.compose(group(source, 1, "d1"))
    retried = await compose.compose(group(source, 2, "d1"))
    assert (redelivered.status, retried.status) == (200, 200)
    assert retried.count == 0
    other = await compose.compose(group(source, 3, "d2", status=500))
    assert other.count == 1

    db = mongo[mongo_db_name]
    assert await db[COLLECTION].count_documents({}) == 2
    assert await db["http_requests"].count_documents({}) == 2
    counters = store.entities.counters
    assert await counters.get(http_counters.traffic(source)) == 2
    assert await counters.get(http_counters.domains(source)) == 1
    domain = await db["http_domains"].find_one({"trafficSourceId": source})
    assert domain is not None
    assert (domain["value"], domain["protocol"]) == ("https://api.shop.example", "HTTPS")
    assert await counters.get(http_counters.pathnames(domain["_id"])) == 1


async def test_an_unknown_source_is_a_404(
    composer: tuple[HttpLogComposer, HttpTrafficStore, str],
) -> None:
    compose, _store, _source = composer
    reply = await compose.compose(group("no-such-source", 1, "d1"))
    assert reply.status == 404
    assert reply.detail == "Traffic source no-such-source not found"


async def test_lists_widen_their_time_window_and_keep_the_order(
    composer: tuple[HttpLogComposer, HttpTrafficStore, str],
    mongo: AsyncMongoClient[Document],
    mongo_db_name: str,
) -> None:
    compose, store, source = composer
    day = 86_400_000_000
    for k in range(6):  # three days apart: the first 10-minute window holds one
        g = group(source, 10 + k, f"w{k}", status=200 + k)
        g.origin_us = T0 + k * 3 * day
        assert (await compose.compose(g)).count == 1
    api = PluralApi(store, mongo[mongo_db_name][COLLECTION])

    async def page(**kw: Any) -> tuple[list[int], int]:
        cmd = ArkynCommand(kind="http-traffics", action="list", parent=source, **kw)
        body = json.loads(bytes((await api(cmd)).body))
        return [r["status"] for r in body["data"]], body["meta"]["totalItems"]

    assert await page(page_limit=2) == ([205, 204], 6)
    assert await page(page=2, page_limit=2) == ([203, 202], 6)
    assert await page(page=3, page_limit=2, sort_direction="asc") == ([204, 205], 6)
    assert await page(page=4, page_limit=2) == ([], 6)
    since = "2025-11-13T00:00:00.000000"  # logs on Nov 6, 9, 12, 15, 18, 21 (15:27 UTC)
    assert await page(page_limit=10, filters={"since": since}) == ([205, 204, 203], 3)
    assert await page(page_limit=10, sort_direction="asc", filters={"since": since}) == (
        [203, 204, 205],
        3,
    )
    # A filtered page that does not reach the range's end: a lower bound with a next page.
    statuses, total = await page(page_limit=1, filters={"method": "post"})
    assert statuses == [205]
    assert total >= 2
