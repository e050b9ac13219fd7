"""failure-analyzer through the bus: ingest and failure-analyzer in-process, real nats-server
and MongoDB (SecantusDB). Reports go in as agents publish them; results are read back over
the service's request/reply subjects and the FEED stream."""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from kubeward.core.app_settings import AppSettings
from kubeward.core.mongo import Document
from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.fake_llm import Answer, FakeLLM, serve_fake_llm
from kubeward.devstack.testing import eventually, serve_asgi, stored_messages
from kubeward.failure_analyzer import admin_settings, retention
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.metrics import REGISTRY
from kubeward.failure_analyzer.settings import Settings
from kubeward.failure_analyzer.store import COLLECTION, FailureStore, Solution
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    Dismiss,
    DismissDeleted,
    FailureQuery,
    FailureReportBatch,
    FailureReportEnvelope,
    GetFailure,
    PodFailure,
    PodFailureReport,
    Restore,
    RetrySolution,
    SetStatus,
)
from kubeward.schemas.replies import Reply
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    HISTORY_RETENTION,
    IGNORED_RETENTION,
    KEYS,
    LLM_CONFIG,
    LLMConfig,
    NotificationSetting,
    Retention,
    WebhookConfig,
    add_pattern,
    is_excluded,
    notification_key,
)

SECRET = "failure-analyzer-test-secret"

REPORT: dict[str, Any] = {
    "pod_name": "orders-6c8d9f7b5-kq2lp",
    "namespace": "shop",
    "node_name": "worker-2",
    "phase": "Running",
    "creation_timestamp": "2026-11-20T08:15:00+00:00",
    "failure_reason": "CrashLoopBackOff",
    "failure_message": "back-off 2m40s restarting failed container=orders",
    "container_statuses": [
        {
            "name": "orders",
            "ready": False,
            "restart_count": 5,
            "image": "registry.acme.io/shop/orders:2.3.1",
            "state": "waiting",
            "reason": "CrashLoopBackOff",
            "message": "back-off 2m40s restarting failed container=orders",
        }
    ],
    "events": [
        {
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container orders in pod "
            "orders-6c8d9f7b5-kq2lp_shop(0f9c2d7e-1b1a-4b8e-9a55-2f6c1d0e9b11)",
            "timestamp": "2026-11-20T08:20:11+00:00",
        }
    ],
    "logs": "Traceback (most recent call last):\n"
    '  File "/app/main.py", line 12, in <module>\n'
    '    DSN = os.environ["DATABASE_URL"]\n'
    "KeyError: 'DATABASE_URL'\n",
    "manifest": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: orders-6c8d9f7b5-kq2lp\n"
    "  namespace: shop\nspec:\n  containers:\n  - name: orders\n"
    "    image: registry.acme.io/shop/orders:2.3.1\n",
}


def report(**changes: Any) -> dict[str, Any]:
    """The sample report with ``changes``."""
    return copy.deepcopy(REPORT) | changes


class Harness:
    """Ingest + failure-analyzer in-process, and ways to talk to them."""

    def __init__(self, nc: NATS, analyzer: ServiceContext, app_settings: AppSettings) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.analyzer = analyzer
        self.settings = app_settings

    async def publish(self, body: dict[str, Any]) -> int:
        """Publish a report as an agent does; returns its COLLECT sequence."""
        ack = await self.js.publish(bus.COLLECT_POD_FAILURES, msgspec.json.encode(body))
        return ack.seq

    async def listing(self, view: str = "active") -> list[PodFailure]:
        """The records of a view."""
        query = msgspec.json.encode(FailureQuery(view=view))  # type: ignore[arg-type]
        reply = msgspec.json.decode(
            (await self.nc.request(bus.RPC_FAILURES_LIST, query, timeout=10)).data, type=Reply
        )
        assert reply.ok, reply
        return msgspec.json.decode(reply.body, type=list[PodFailure])

    async def command(self, command: Any) -> Reply:
        """Send a command; its reply."""
        data = msgspec.json.encode(command)
        msg = await self.nc.request(bus.RPC_FAILURES_COMMAND, data, timeout=30)
        return msgspec.json.decode(msg.data, type=Reply)

    async def feed(self, event_type: str) -> list[dict[str, Any]]:
        """Every feed event of a type so far."""
        msgs = await stored_messages(self.nc, bus.feed_subject(event_type), bus.FEED.name)
        return [msgspec.json.decode(m.data) for m in msgs]

    async def first(self) -> PodFailure:
        """Wait for the first active record."""
        rows = await eventually(self.listing, bool, what="a stored failure")
        return rows[0]


@pytest.fixture
async def harness(
    nats_url: str, mongo_url: str, mongo_db_name: str, nc: NATS
) -> AsyncIterator[Harness]:
    """Ingest and failure-analyzer running in-process against real servers."""
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        settings_secret=SECRET,
        retention_interval_seconds=3600,
        llm_timeout_seconds=2.0,
    )
    async with (
        serving("ingest", IngestSettings(nats_url=nats_url), ingest),
        serving("failure-analyzer", settings, failure_analyzer) as ctx,
        await AppSettings.open(nc.jetstream(), SECRET, keys=KEYS) as app_settings,
    ):
        yield Harness(nc, ctx, app_settings)


async def test_a_report_is_stored_diagnosed_and_announced(harness: Harness) -> None:
    await harness.publish(REPORT)
    record = await harness.first()
    assert (record.pod_name, record.namespace, record.status) == (
        REPORT["pod_name"],
        "shop",
        "new",
    )
    assert record.failure_reason == "CrashLoopBackOff"
    assert record.timestamp == REPORT["creation_timestamp"]
    assert record.container_statuses[0].restart_count == 5
    for heading in ("## Root Cause", "## Fix", "## Verify"):
        assert heading in record.solution
    assert "DATABASE_URL" in record.solution
    assert record.solution_source == "offline"
    events = await eventually(lambda: harness.feed("pod_failure"), bool, what="pod_failure")
    assert events[0]["type"] == "pod_failure"
    assert events[0]["data"]["id"] == record.id
    assert events[0]["data"]["solution"] == record.solution


async def test_a_repeat_report_updates_the_open_record(harness: Harness) -> None:
    await harness.publish(REPORT)
    first = await harness.first()
    await harness.publish(report(failure_reason="OOMKilled", failure_message="OOMKilled"))
    rows = await eventually(
        harness.listing, lambda r: r[0].report_count == 2, what="the repeat applied"
    )
    assert len(rows) == 1
    assert rows[0].id == first.id
    assert rows[0].failure_reason == "OOMKilled"
    assert rows[0].solution != first.solution


async def test_a_redelivered_report_changes_nothing_and_announces_once(
    harness: Harness,
) -> None:
    # What ingest forwards, delivered twice (as after a crash between write and ack).
    envelope = FailureReportEnvelope(
        origin_seq=77,
        origin_us=1_800_000_000_000_000,
        report=msgspec.convert(REPORT, PodFailureReport),
    )
    data = msgspec.msgpack.encode(FailureReportBatch(reports=[envelope]))
    await harness.js.publish(bus.FAILURES_REPORT, data)
    await harness.js.publish(bus.FAILURES_REPORT, data)
    await eventually(lambda: _consumer_idle(harness), bool, what="both deliveries handled")
    rows = await harness.listing()
    assert [r.report_count for r in rows] == [1]
    assert len(await harness.feed("pod_failure")) == 1


async def test_a_redelivered_batch_of_several_pods_counts_each_report_once(
    harness: Harness,
) -> None:
    # One forwarded message holding reports of three pods, one of them twice (stored in
    # two rounds, in order), delivered twice.
    pods = ["web-1", "web-2", "web-1", "web-3"]
    envelopes = [
        FailureReportEnvelope(
            origin_seq=80,
            index=index,
            origin_us=1_800_000_000_000_000 + index * 1000,
            report=msgspec.convert(report(pod_name=pod), PodFailureReport),
        )
        for index, pod in enumerate(pods)
    ]
    data = msgspec.msgpack.encode(FailureReportBatch(reports=envelopes))
    await harness.js.publish(bus.FAILURES_REPORT, data)
    await harness.js.publish(bus.FAILURES_REPORT, data)
    await eventually(lambda: _consumer_idle(harness), bool, what="both deliveries handled")
    rows = await harness.listing()
    assert sorted((r.pod_name, r.report_count) for r in rows) == [
        ("web-1", 2),
        ("web-2", 1),
        ("web-3", 1),
    ]
    assert len(await harness.feed("pod_failure")) == len(pods)


async def _consumer_idle(harness: Harness) -> bool:
    info = await harness.js.consumer_info(
        bus.FAILURES.name, f"{bus.CONSUMER_FAILURE_ANALYZER}-reports"
    )
    return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= 2


async def test_two_replicas_racing_on_a_first_report_make_one_record(
    harness: Harness, mongo_url: str
) -> None:
    settings = harness.analyzer.settings
    assert isinstance(settings, Settings)
    clients: list[AsyncMongoClient[Document]] = [AsyncMongoClient(mongo_url) for _ in range(2)]
    stores = [FailureStore(c[settings.mongodb_db]) for c in clients]
    pod = msgspec.convert(report(pod_name="racer-1"), PodFailureReport)
    outcomes = await asyncio.gather(
        *(
            store.record(
                FailureReportEnvelope(
                    origin_seq=900 + i, origin_us=1_800_000_000_000_000, report=pod
                ),
                Solution(text="x", source="offline"),
            )
            for i, store in enumerate(stores * 4)
        )
    )
    for client in clients:
        await client.close()
    assert {doc["_id"] for _, doc in outcomes} == {outcomes[0][1]["_id"]}
    assert sorted(o.value for o, _ in outcomes).count("created") == 1
    rows = await harness.listing()
    assert [r.report_count for r in rows if r.pod_name == "racer-1"] == [8]


async def test_excluded_namespaces_and_pods_are_dropped(harness: Harness) -> None:
    await harness.settings.apply(add_pattern(EXCLUDED_NAMESPACES, "kube-*"))
    await harness.settings.apply(add_pattern(EXCLUDED_PODS, "canary-*"))
    seen = _seen_by_analyzer(harness)
    await eventually(
        lambda: _now(_excluded(seen, "kube-x", "p") and _excluded(seen, "ns", "canary-1")),
        bool,
        what="failure-analyzer sees the exclusions",
    )
    before = {reason: _dropped(reason) for reason in ("excluded_namespace", "excluded_pod")}
    await harness.publish(report(namespace="kube-system", pod_name="coredns-1"))
    await harness.publish(report(pod_name="canary-7f9"))
    await harness.publish(report(pod_name="kept-1"))
    rows = await eventually(harness.listing, bool, what="the kept report")
    assert [r.pod_name for r in rows] == ["kept-1"]
    assert {reason: _dropped(reason) - n for reason, n in before.items()} == {
        "excluded_namespace": 1,
        "excluded_pod": 1,
    }


def _dropped(reason: str) -> float:
    """The in-process failure-analyzer's count of reports dropped for ``reason``."""
    value = REGISTRY.get_sample_value("kubeward_failure_reports_dropped_total", {"reason": reason})
    return value or 0.0


def _excluded(store: AppSettings, namespace: str, pod_name: str) -> bool:
    """Whether the pod is excluded by the patterns ``store`` holds."""
    return is_excluded(
        namespace,
        pod_name,
        admin_settings.excluded_namespaces(store),
        admin_settings.excluded_pods(store),
    )


def _seen_by_analyzer(harness: Harness) -> AppSettings:
    """The settings as the running failure-analyzer sees them (its own watch)."""
    seen = harness.analyzer.components["app_settings"]
    assert isinstance(seen, AppSettings)
    return seen


async def test_status_changes_follow_the_rules_and_are_announced(harness: Harness) -> None:
    await harness.publish(REPORT)
    record = await harness.first()
    reply = await harness.command(SetStatus(id=record.id, status="investigating"))
    assert reply.status == 200
    assert msgspec.json.decode(reply.body)["status"] == "investigating"
    reply = await harness.command(SetStatus(id=record.id, status="ignored"))
    assert await harness.listing() == []
    assert [r.id for r in await harness.listing("ignored")] == [record.id]
    reply = await harness.command(Restore(id=record.id))
    assert (reply.status, msgspec.json.decode(reply.body)) == (
        200,
        {"message": "Pod failure restored"},
    )
    reply = await harness.command(Dismiss(id=record.id))
    assert msgspec.json.decode(reply.body) == {"message": "Pod failure dismissed"}
    history = await harness.listing("history")
    assert [(r.id, r.status, r.dismissed) for r in history] == [(record.id, "resolved", True)]
    assert history[0].resolved_at is not None
    reply = await harness.command(SetStatus(id=record.id, status="new"))
    assert (reply.status, reply.detail) == (400, "Cannot transition from 'resolved' to 'new'")
    reply = await harness.command(Restore(id=record.id))
    assert reply.status == 400
    changes = await eventually(
        lambda: harness.feed("pod_status_change"), lambda e: len(e) == 4, what="4 changes"
    )
    assert [e["data"]["status"] for e in changes] == [
        "investigating",
        "ignored",
        "new",
        "resolved",
    ]
    assert all(e["data"]["namespace"] == "shop" for e in changes)


async def test_unknown_ids_get_kures_404(harness: Harness) -> None:
    for command in (SetStatus(id=999, status="resolved"), Dismiss(id=999), Restore(id=999)):
        reply = await harness.command(command)
        assert (reply.status, reply.detail) == (404, "Pod failure not found")


async def test_after_resolution_the_next_failure_opens_a_new_record(harness: Harness) -> None:
    await harness.publish(REPORT)
    first = await harness.first()
    await harness.command(Dismiss(id=first.id))
    await harness.publish(REPORT)
    rows = await eventually(harness.listing, bool, what="a new record")
    assert rows[0].id > first.id


async def test_dismiss_deleted_resolves_and_announces(harness: Harness) -> None:
    await harness.publish(REPORT)
    record = await harness.first()
    reply = await harness.command(DismissDeleted(namespace="shop", pod_name=REPORT["pod_name"]))
    assert msgspec.json.decode(reply.body) == {"message": "Pod auto-resolved", "resolved": 1}
    assert [r.id for r in await harness.listing("history")] == [record.id]
    deleted = await eventually(lambda: harness.feed("pod_deleted"), bool, what="pod_deleted")
    assert deleted[0]["data"] == {"namespace": "shop", "pod_name": REPORT["pod_name"]}
    reply = await harness.command(DismissDeleted(namespace="shop", pod_name="never-failed"))
    assert msgspec.json.decode(reply.body)["resolved"] == 0


async def test_retention_deletes_old_resolved_and_ignored_records_only(
    harness: Harness, mongo_url: str
) -> None:
    for name in ("old-resolved", "old-ignored", "fresh-resolved", "active"):
        await harness.publish(report(pod_name=name))
    rows = await eventually(harness.listing, lambda r: len(r) == 4, what="four records")
    ids = {r.pod_name: r.id for r in rows}
    await harness.command(Dismiss(id=ids["old-resolved"]))
    await harness.command(Dismiss(id=ids["fresh-resolved"]))
    await harness.command(SetStatus(id=ids["old-ignored"], status="ignored"))
    settings = harness.analyzer.settings
    assert isinstance(settings, Settings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    col = client[settings.mongodb_db][COLLECTION]
    for name in ("old-resolved", "old-ignored"):
        doc = await col.find_one({"_id": ids[name]})
        assert doc is not None
        await col.update_one(
            {"_id": ids[name]},
            {"$set": {"status_changed_at": doc["status_changed_at"] - timedelta(minutes=90)}},
        )
    store = FailureStore(client[settings.mongodb_db])
    assert await retention.sweep_once(store, harness.settings, batch=1) == 0  # 0 = keep
    await harness.settings.set(HISTORY_RETENTION, Retention(minutes=60))
    await harness.settings.set(IGNORED_RETENTION, Retention(minutes=60))
    assert await retention.sweep_once(store, harness.settings, batch=1) == 2
    remaining = {d["pod_name"] async for d in col.find({})}
    await client.close()
    assert remaining == {"fresh-resolved", "active"}


class Receiver:
    """A local webhook receiver: records bodies; answers ``status`` (or hangs)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(msgspec.json.decode(body))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_new_failures_and_resolutions_notify_every_enabled_provider(
    harness: Harness,
) -> None:
    good, broken = Receiver(), Receiver(status=500)
    async with serve_asgi(good) as good_url, serve_asgi(broken) as broken_url:
        await harness.settings.set(
            notification_key("webhook"),
            NotificationSetting(config=WebhookConfig(webhook_url=good_url + "/hook")),
        )
        await harness.settings.set(
            notification_key("slack"),
            NotificationSetting(config=WebhookConfig(webhook_url=broken_url + "/services/x")),
        )
        seen = _seen_by_analyzer(harness)
        await eventually(
            lambda: _now(len(admin_settings.enabled_notifications(seen)) == 2),
            bool,
            what="failure-analyzer sees both providers",
        )
        leaky = "dial postgres://orders:S3cretPassw0rd@db.shop:5432/orders: refused"
        await harness.publish(report(failure_message=leaky))
        record = await harness.first()
        received = await eventually(lambda: _bodies(good), bool, what="the webhook notification")
        assert "orders-6c8d9f7b5-kq2lp" in received[0]["title"]
        assert received[0]["severity"] == "error"
        assert "refused" in received[0]["text"]
        assert "S3cretPassw0rd" not in msgspec.json.encode(received[0]).decode()
        await harness.command(Dismiss(id=record.id))
        received = await eventually(lambda: _bodies(good), lambda b: len(b) == 2, what="2")
        assert received[1]["title"].startswith("Resolved")
        assert len(broken.bodies) >= 2  # retried, and never held up the good provider


async def _bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return list(receiver.bodies)


async def _now(value: bool) -> bool:
    return value


LLM_ANSWER = "## Root Cause\nDATABASE_URL is unset.\n\n## Fix\n1. Set it.\n\n## Verify\n`kubectl`"
DB_PASSWORD = "pg-pass-4f8b2c9e1d"
MANIFEST_WITH_SECRET = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: orders-6c8d9f7b5-kq2lp\n"
    "  namespace: shop\nspec:\n  containers:\n  - name: orders\n"
    "    image: registry.acme.io/shop/orders:2.3.1\n    env:\n    - name: DB_PASSWORD\n"
    f"      value: {DB_PASSWORD}\n"
)


async def _llm_configured(harness: Harness, server: FakeLLM) -> None:
    """Point the LLM setting at the fake OpenAI server; wait until the analyzer sees it."""
    await harness.settings.set(
        LLM_CONFIG,
        LLMConfig(provider="openai", model="gpt-4o-mini", api_key="sk-x" * 6, base_url=server.url),
    )
    seen = _seen_by_analyzer(harness)
    await eventually(
        lambda: _now(admin_settings.llm_config(seen) is not None),
        bool,
        what="the analyzer sees the LLM",
    )


async def test_with_an_llm_its_answer_replaces_the_offline_one(harness: Harness) -> None:
    async with serve_fake_llm(LLM_ANSWER) as server:
        await _llm_configured(harness, server)
        await harness.publish(report(manifest=MANIFEST_WITH_SECRET))
        updates = await eventually(
            lambda: harness.feed("solution_updated"), bool, what="solution_updated"
        )
        record = (await harness.listing())[0]
    assert updates[0]["data"]["id"] == record.id
    assert updates[0]["data"]["solution_source"] == "llm"
    assert (record.solution, record.solution_source) == (LLM_ANSWER, "llm")
    prompt = server.requests[0].body.decode()
    assert "DATABASE_URL" in prompt  # the report's and the analyzers' findings went in
    assert DB_PASSWORD not in prompt  # the manifest's env value did not


async def test_when_the_llm_hangs_the_offline_answer_stays_marked(harness: Harness) -> None:
    async with serve_fake_llm(LLM_ANSWER) as server:
        server.script = [Answer(hang=True), Answer(hang=True)]
        await _llm_configured(harness, server)
        await harness.publish(REPORT)
        updates = await eventually(
            lambda: harness.feed("solution_updated"), bool, what="solution_updated"
        )
        record = (await harness.listing())[0]
    assert updates[0]["data"]["solution_source"] == "offline-fallback"
    assert record.solution_source == "offline-fallback"
    assert record.llm_error
    assert "## Root Cause" in record.solution
    assert "DATABASE_URL" in record.solution


async def test_retry_solution_asks_the_llm_again(harness: Harness) -> None:
    await harness.publish(REPORT)
    record = await harness.first()
    assert record.solution_source == "offline"
    async with serve_fake_llm(LLM_ANSWER) as server:
        await _llm_configured(harness, server)
        reply = await harness.command(RetrySolution(id=record.id))
    assert reply.status == 200
    retried = msgspec.json.decode(reply.body, type=PodFailure)
    assert (retried.id, retried.solution, retried.solution_source) == (
        record.id,
        LLM_ANSWER,
        "llm",
    )
    reply = await harness.command(RetrySolution(id=12345))
    assert (reply.status, reply.detail) == (404, "Pod failure not found")


async def test_get_failure_answers_one_record_or_404(harness: Harness) -> None:
    await harness.publish(REPORT)
    record = await harness.first()
    reply = await harness.command(GetFailure(id=record.id))
    assert reply.ok, reply
    got = msgspec.json.decode(reply.body, type=PodFailure)
    assert (got.id, got.pod_name, got.manifest) == (
        record.id,
        REPORT["pod_name"],
        REPORT["manifest"],
    )
    missing = await harness.command(GetFailure(id=record.id + 1000))
    assert (missing.status, missing.detail) == (404, "Pod failure not found")


async def test_the_llm_job_reads_the_stored_crash_logs_redacted(harness: Harness) -> None:
    crash_log = (
        f"connecting to postgres://orders:{DB_PASSWORD}@db:5432/orders\nKeyError: 'PAYMENT_TOKEN'\n"
    )
    block = {
        "data": base64.b64encode(gzip.compress(crash_log.encode(), compresslevel=6)).decode(),
        "original_size": len(crash_log),
        "lines": 2,
        "truncated": False,
    }
    failure_logs = {
        "version": 1,
        "encoding": "gzip+base64",
        "containers": {"orders": {"previous": block, "current": None, "error": None}},
    }
    async with serve_fake_llm(LLM_ANSWER) as server:
        await _llm_configured(harness, server)
        await harness.publish(
            report(manifest=MANIFEST_WITH_SECRET, logs="", failure_logs=failure_logs)
        )
        await eventually(lambda: harness.feed("solution_updated"), bool, what="solution_updated")
    record = (await harness.listing())[0]
    assert record.logs_captured and record.solution_source == "llm"
    prompt = server.requests[0].body.decode()
    assert "KeyError: 'PAYMENT_TOKEN'" in prompt  # from the stored, cleaned previous log
    assert DB_PASSWORD not in prompt


async def test_a_manifest_nested_too_deeply_poisons_no_neighbour(harness: Harness) -> None:
    """5000 nested ``[`` as a manifest (JSON, or YAML flow inside a field) used to raise
    RecursionError: retried, then dead-lettered with the reports fetched beside it."""
    deep = [
        "[" * 5000 + "]" * 5000,
        "spec: " + "{a: " * 5000 + "1" + "}" * 5000,
    ]
    for i, manifest in enumerate(deep):
        await harness.publish(report(pod_name=f"deep-{i}", manifest=manifest))
    await harness.publish(report(pod_name="plain"))
    rows = await eventually(
        lambda: harness.listing(), lambda r: len(r) == 3, timeout=20, what="three records"
    )
    assert {r.pod_name for r in rows} == {"deep-0", "deep-1", "plain"}
    assert all(r.solution for r in rows)  # each diagnosed, the deep ones without a manifest
    assert await stored_messages(harness.nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name) == []
