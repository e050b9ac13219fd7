"""The traffic-store service as deployed: its durable consumers keep their names, subjects and
redelivery limits on the server (so a deployment keeps its consumers across the move to the
FastStream runtime), each is reported in health, and a pod-traffic message is written and
acked (real NATS JetStream and the real MongoDB wire server)."""

from __future__ import annotations

import msgspec
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy
from pymongo import AsyncMongoClient

from kubeward.core.health import OK, health_report
from kubeward.core.mongo import Document
from kubeward.core.service import serving
from kubeward.devstack.testing import acked_through, eventually
from kubeward.schemas import bus
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.pod_traffic import COLLECTION
from kubeward.traffic_store.settings import Settings

CONSUMERS = {
    f"{bus.CONSUMER_TRAFFIC_STORE}-pod": bus.TRAFFIC_POD,
    f"{bus.CONSUMER_TRAFFIC_STORE}-http": bus.TRAFFIC_HTTP,
    f"{bus.CONSUMER_TRAFFIC_STORE}-http-log": bus.TRAFFIC_HTTP_LOG,
    f"{bus.CONSUMER_TRAFFIC_STORE}-inventory": bus.TRAFFIC_INVENTORY,
}


async def test_the_consumers_keep_their_names_and_limits_and_each_is_in_health(
    nats_url: str,
    nc: NATS,
    mongo_url: str,
    mongo: AsyncMongoClient[Document],
    mongo_db_name: str,
) -> None:
    settings = Settings(
        nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name, max_deliver=7
    )
    js = nc.jetstream()
    event = PodTrafficEvent(
        uuid="00000000-0000-4000-0000-000000000001",
        pod_name="web",
        pod_namespace="prod",
        pod_ip="10.0.0.1",
        pod_port="8080",
        ip_protocol="TCP",
        traffic_type="INGRESS",
        traffic_in_out_ip="10.0.0.2",
        traffic_in_out_port="443",
        decision="ALLOW",
        time_stamp="2026-05-12T10:00:00.000000",
    )
    async with serving("traffic-store", settings, traffic_store) as ctx:
        report = await health_report(ctx.name, ctx.checks, ctx.liveness)
        configs = {d: (await js.consumer_info(bus.TRAFFIC.name, d)).config for d in CONSUMERS}
        published = await js.publish(
            bus.TRAFFIC_POD,
            msgspec.msgpack.encode(PodTrafficBatch(groups=[PodTrafficGroup(1, None, [event])])),
        )

        durable = f"{bus.CONSUMER_TRAFFIC_STORE}-pod"
        await eventually(
            lambda: acked_through(js, bus.TRAFFIC.name, durable, published.seq),
            bool,
            timeout=20,
            what="pod traffic acked",
        )
    assert report.status == OK, report
    for durable in CONSUMERS:
        assert report.checks[f"consumer:{durable}"] is True
        assert report.checks[f"live:consumer:{durable}"] is True
    assert {
        durable: (c.durable_name, c.filter_subject, c.max_deliver, c.ack_policy)
        for durable, c in configs.items()
    } == {
        durable: (durable, subject, 7, AckPolicy.EXPLICIT) for durable, subject in CONSUMERS.items()
    }
    stored = await mongo[mongo_db_name][COLLECTION].find({}, {"hits": 1}).to_list()
    assert [d["hits"] for d in stored] == [1]
