"""Stream replicas (``NATS_STREAM_REPLICAS``) and several ``NATS_URL`` servers, on a real
three-node JetStream cluster and on a single server."""

from __future__ import annotations

from unittest import mock

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import APIError

from kubeward.core.app_settings import AppSettings
from kubeward.core.bus import connect, ensure_streams, server_urls
from kubeward.core.settings import BaseSettings, load_settings
from kubeward.devstack import infra
from kubeward.schemas import bus
from kubeward.schemas.settings import KEYS

SECRET = "test-settings-secret-0123456789"


def test_nats_url_may_list_several_servers() -> None:
    assert server_urls("nats://a:4222") == ["nats://a:4222"]
    assert server_urls(" nats://a:4222, nats://b:4222 ,nats://c:4222,") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    with pytest.raises(ValueError, match="names no server"):
        server_urls(" , ")


def test_replicas_setting_defaults_to_one() -> None:
    assert load_settings(BaseSettings, {}).nats_stream_replicas == 1
    assert load_settings(BaseSettings, {"NATS_STREAM_REPLICAS": "3"}).nats_stream_replicas == 3


async def test_single_server_streams_keep_one_replica_and_refuse_three(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)
    for spec in bus.STREAMS:
        assert (await js.stream_info(spec.name)).config.num_replicas == 1
    with pytest.raises(APIError):  # a standalone server cannot hold 3: said loudly
        await ensure_streams(js, [bus.COLLECT], replicas=3)


async def test_cluster_streams_bucket_and_audit_get_three_replicas(
    nats_cluster: list[infra.NatsNode],
) -> None:
    nc = await connect(infra.cluster_url(nats_cluster), "test")
    js = nc.jetstream()
    assert len(nc.servers) == 3  # every node known, for fail-over
    await ensure_streams(js, bus.STREAMS, replicas=3)
    settings = await AppSettings.open(js, SECRET, keys=KEYS, replicas=3)
    await settings.close()
    for name in [spec.name for spec in bus.STREAMS] + [f"KV_{bus.SETTINGS_BUCKET}"]:
        info = await js.stream_info(name)
        assert info.config.num_replicas == 3, name
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2, name
    await nc.close()


async def test_up_to_date_streams_are_not_rewritten_and_replicas_scale_up(
    nats_cluster: list[infra.NatsNode],
) -> None:
    nc = await connect(infra.cluster_url(nats_cluster), "test")
    js = nc.jetstream()
    await ensure_streams(js, bus.STREAMS)  # a bus that began as R1
    settings = await AppSettings.open(js, SECRET, keys=KEYS, replicas=1)
    await settings.close()
    with mock.patch.object(js, "update_stream", wraps=js.update_stream) as update:
        await ensure_streams(js, bus.STREAMS)
        assert update.call_count == 0  # every replica's start-up would otherwise write
        await ensure_streams(js, bus.STREAMS, replicas=3)
        assert update.call_count == len(bus.STREAMS)
    settings = await AppSettings.open(js, SECRET, keys=KEYS, replicas=3)
    await settings.close()
    for name in [bus.COLLECT.name, bus.AUDIT.name, f"KV_{bus.SETTINGS_BUCKET}"]:
        assert (await js.stream_info(name)).config.num_replicas == 3, name
    await nc.close()
