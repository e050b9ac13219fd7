"""Kure failed-pod reports in ingest: validation units, then routing against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.testing import eventually
from kubeward.devstack.testing import stored_messages as drain
from kubeward.ingest.app import ingest
from kubeward.ingest.pod_failures import parse
from kubeward.ingest.settings import Settings
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import NAME_REQUIRED, FailureReportBatch
from kubeward.schemas.replies import Reply

REPORT: dict[str, Any] = {
    "pod_name": "checkout-7d9f8b6c4-x2x9q",
    "namespace": "shop",
    "node_name": "worker-1",
    "phase": "Running",
    "creation_timestamp": "2026-11-20T10:30:00+00:00",
    "failure_reason": "CrashLoopBackOff",
    "failure_message": "back-off 5m0s restarting failed container=app",
    "container_statuses": [
        {
            "name": "app",
            "ready": False,
            "restart_count": 7,
            "image": "ghcr.io/acme/checkout:1.4.2",
            "state": "waiting",
            "reason": "CrashLoopBackOff",
            "message": "back-off 5m0s restarting failed container=app",
        }
    ],
    "events": [
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container"}
    ],
    "logs": "KeyError: 'DATABASE_URL'\n",
    "manifest": "apiVersion: v1\nkind: Pod\n",
    "future_field": {"agents": "may add fields"},
}


def test_a_report_as_the_agent_sends_it_is_accepted() -> None:
    reports, rejects = parse(msgspec.json.encode(REPORT))
    assert rejects == []
    assert reports[0].pod_name == REPORT["pod_name"]
    assert reports[0].container_statuses is not None
    assert reports[0].container_statuses[0].restart_count == 7


def test_nulls_where_the_agent_has_nothing_are_accepted() -> None:
    body = REPORT | {"node_name": None, "failure_message": None, "failure_reason": None}
    reports, _ = parse(msgspec.json.encode(body | {"logs": None, "events": None}))
    assert reports[0].failure_reason == "Unknown"
    assert reports[0].logs is None


@pytest.mark.parametrize(
    "change", [{"pod_name": ""}, {"namespace": "  "}, {"pod_name": None}, {"namespace": None}]
)
def test_a_report_without_pod_or_namespace_gets_kures_error(change: dict[str, Any]) -> None:
    body = {k: v for k, v in (REPORT | change).items() if v is not None}
    reports, rejects = parse(msgspec.json.encode(body))
    assert reports == []
    assert rejects[0].reason == NAME_REQUIRED


def test_a_wrongly_typed_field_is_named() -> None:
    _, rejects = parse(
        msgspec.json.encode(REPORT | {"container_statuses": [{"restart_count": "x"}]})
    )
    assert "container_statuses[0].restart_count" in rejects[0].reason


def test_arrays_split_good_from_bad_by_index() -> None:
    reports, rejects = parse(msgspec.json.encode([REPORT, REPORT | {"namespace": ""}, REPORT]))
    assert len(reports) == 2
    assert [r.index for r in rejects] == [1]


# --- Routing against nats-server -------------------------------------------------------


@pytest.fixture
async def service(nats_url: str) -> AsyncIterator[ServiceContext]:
    """Ingest running in-process."""
    async with serving("ingest", Settings(nats_url=nats_url), ingest) as ctx:
        yield ctx


async def forwarded(nc: NATS) -> list[FailureReportBatch]:
    """Batches ingest published for failure-analyzer."""
    msgs = await drain(nc, bus.FAILURES_REPORT, bus.FAILURES.name)
    return [msgspec.msgpack.decode(m.data, type=FailureReportBatch) for m in msgs]


async def test_valid_reports_are_forwarded_with_their_origin(
    service: ServiceContext, nc: NATS
) -> None:
    ack = await nc.jetstream().publish(
        bus.COLLECT_POD_FAILURES, msgspec.json.encode([REPORT, REPORT])
    )
    batches = await eventually(lambda: forwarded(nc), bool, what="a forwarded batch")
    envelopes = batches[0].reports
    assert [(e.origin_seq, e.index) for e in envelopes] == [(ack.seq, 0), (ack.seq, 1)]
    assert envelopes[0].report.namespace == "shop"
    assert envelopes[0].reply_to is None


async def test_http_input_without_a_name_gets_kures_400(service: ServiceContext, nc: NATS) -> None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    body = msgspec.json.encode(REPORT | {"pod_name": ""})
    await nc.jetstream().publish(bus.COLLECT_POD_FAILURES, body, headers={bus.HDR_REPLY_TO: inbox})
    reply = msgspec.json.decode((await sub.next_msg(timeout=10)).data, type=Reply)
    assert (reply.status, reply.detail) == (400, NAME_REQUIRED)
    assert await forwarded(nc) == []


async def test_bus_input_that_is_invalid_is_dead_lettered_with_the_reason(
    service: ServiceContext, nc: NATS
) -> None:
    bad = msgspec.json.encode(REPORT | {"namespace": ""})
    ack = await nc.jetstream().publish(bus.COLLECT_POD_FAILURES, bad)
    dead = await eventually(
        lambda: drain(nc, bus.deadletter_subject("ingest"), bus.DEADLETTER.name),
        bool,
        what="a dead letter",
    )
    headers = dead[0].headers or {}
    assert dead[0].data == bad
    assert headers[bus.HDR_ORIGIN_SEQ] == str(ack.seq)
    assert headers[bus.HDR_REASON] == NAME_REQUIRED
    assert await forwarded(nc) == []
