"""Crash and restart: traffic-store is killed while collectors keep publishing.

Every event accepted by JetStream (PubAck) must end up stored exactly once: one row per
distinct flow and each event counted once in its flow's hits.
"""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import nats

from kubeward.devstack.services import ServiceSet
from kubeward.devstack.testing import SERVICE_TOKEN, eventually
from kubeward.schemas import bus

AUTH = {"X-Service-Token": SERVICE_TOKEN}
MESSAGES = 120
PER_MESSAGE = 25
FLOWS = 400


def event(i: int) -> dict[str, str]:
    """Event ``i``; flows repeat every ``FLOWS`` events so most flows get several hits."""
    flow = i % FLOWS
    return {
        "uuid": f"00000000-0000-4000-8000-{i:012d}",
        "pod_name": f"pod-{flow % 7}",
        "pod_namespace": "prod",
        "pod_ip": f"10.1.{flow // 250}.{flow % 250}",
        "pod_port": "8080",
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": "10.2.0.1",
        "traffic_in_out_port": "443",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:00:00.{i:06d}",
    }


async def totals(api: httpx.AsyncClient) -> tuple[int, int]:
    """(rows, sum of hits) across every page of the API."""
    rows: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"with_stats": "true", "limit": "5000"} | ({"cursor": cursor} if cursor else {})
        resp = await api.get("/pod/traffic", headers=AUTH, params=params)
        resp.raise_for_status()
        rows += resp.json()
        cursor = resp.headers.get("x-next-cursor")
        if cursor is None:
            break
    uuids = [r["uuid"] for r in rows]
    assert len(uuids) == len(set(uuids)), "a flow was stored twice"
    return len(rows), sum(int(str(r["hits"])) for r in rows)


async def test_traffic_store_crash_loses_and_duplicates_nothing(stack: ServiceSet) -> None:
    nc = await nats.connect(stack.env["NATS_URL"])
    js = nc.jetstream()
    acked = 0

    async def publish(start: int, stop: int) -> None:
        nonlocal acked
        for m in range(start, stop):
            events = [event(m * PER_MESSAGE + k) for k in range(PER_MESSAGE)]
            ack = await js.publish(bus.COLLECT_POD_TRAFFIC, msgspec.json.encode(events))
            assert not ack.duplicate
            acked += PER_MESSAGE

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        await publish(0, MESSAGES // 3)
        # Some of the first third is stored; then the store dies mid-stream.
        await eventually(lambda: totals(api), lambda t: t[1] > 0, what="first writes")
        publisher = asyncio.create_task(publish(MESSAGES // 3, MESSAGES))
        await asyncio.to_thread(stack.kill, "traffic_store")
        await publisher
        assert acked == MESSAGES * PER_MESSAGE
        await asyncio.to_thread(stack.start, "traffic_store")
        rows, hits = await eventually(
            lambda: totals(api),
            lambda t: t[1] >= acked,
            timeout=120,
            what="every accepted event stored",
        )
        assert rows == FLOWS
        assert hits == acked
    await nc.close()
