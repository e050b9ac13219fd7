"""security through the bus: ingest and security in-process, real nats-server and MongoDB
(SecantusDB). Findings and manifests go in as scanners and agents publish them; results are
read back over the service's request/reply subjects and the FEED stream."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from kubeward.core.app_settings import AppSettings
from kubeward.core.service import ServiceContext, serving
from kubeward.devstack.fake_llm import serve_fake_llm
from kubeward.devstack.testing import eventually, stored_messages
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import (
    AddRegistry,
    ClearFindings,
    DeleteResourceFindings,
    DismissFinding,
    FindingQuery,
    FixFinding,
    RemoveRegistry,
    RestoreFinding,
    ScanManifest,
    SecurityFinding,
)
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    KEYS,
    LLM_CONFIG,
    LLMConfig,
    add_pattern,
    is_excluded,
)
from kubeward.security import admin_settings
from kubeward.security.app import security
from kubeward.security.settings import Settings

SECRET = "security-test-settings-secret"

FINDING: dict[str, Any] = {
    "resource_type": "Pod",
    "resource_name": "api-7d9f8b6c4-abc12",
    "namespace": "shop",
    "check_name": "privileged_container",
    "severity": "critical",
    "message": "Container 'app' is running in privileged mode",
    "remediation": "Remove 'privileged: true' from securityContext",
    "details": {"container": "app", "field": "securityContext.privileged"},
}

DB_PASSWORD = "hunter2-db-pass-9b1f"


def deployment(
    image: str = "evil.example.com/shop/api:latest", privileged: bool = True
) -> dict[str, Any]:
    """A Deployment as an agent sends it (JSON)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "securityContext": {"privileged": privileged},
                            "env": [{"name": "DB_PASSWORD", "value": DB_PASSWORD}],
                        }
                    ]
                },
            },
        },
    }


class Harness:
    """Ingest + security in-process, and ways to talk to them."""

    def __init__(self, nc: NATS, service: ServiceContext, app_settings: AppSettings) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.service = service
        self.settings = app_settings

    async def publish(self, subject: str, body: Any) -> None:
        """Publish JSON as a scanner or agent does."""
        await self.js.publish(subject, msgspec.json.encode(body))

    async def findings(self, **filters: Any) -> list[SecurityFinding]:
        """The findings matching ``filters``."""
        query = msgspec.json.encode(FindingQuery(**filters))
        msg = await self.nc.request(bus.RPC_SECURITY_LIST, query, timeout=10)
        reply = msgspec.json.decode(msg.data, type=Reply)
        assert reply.ok, reply
        return msgspec.json.decode(reply.body, type=list[SecurityFinding])

    async def command(self, command: Any) -> Reply:
        """Send a command; its reply."""
        msg = await self.nc.request(bus.RPC_SECURITY_COMMAND, msgspec.json.encode(command), 30)
        return msgspec.json.decode(msg.data, type=Reply)

    async def feed(self, event_type: str) -> list[dict[str, Any]]:
        """Every feed event of a type so far."""
        msgs = await stored_messages(self.nc, bus.feed_subject(event_type), bus.FEED.name)
        return [msgspec.json.decode(m.data) for m in msgs]

    def seen(self) -> AppSettings:
        """The settings as the running security service sees them."""
        seen = self.service.components["app_settings"]
        assert isinstance(seen, AppSettings)
        return seen


@pytest.fixture
async def harness(
    nats_url: str, mongo_url: str, mongo_db_name: str, nc: NATS
) -> AsyncIterator[Harness]:
    """Ingest and security running in-process against real servers."""
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        settings_secret=SECRET,
        llm_timeout_seconds=2.0,
    )
    async with (
        serving("ingest", IngestSettings(nats_url=nats_url), ingest),
        serving("security", settings, security) as ctx,
        await AppSettings.open(nc.jetstream(), SECRET, keys=KEYS) as app_settings,
    ):
        yield Harness(nc, ctx, app_settings)


async def _now(value: bool) -> bool:
    return value


async def _handled(harness: Harness, *workers: str) -> bool:
    """Whether each named security worker has taken and acked at least one message and
    has nothing left (so what it stores is complete)."""
    for worker in workers:
        info = await harness.js.consumer_info(bus.SECURITY.name, f"security-{worker}")
        if info.delivered.consumer_seq < 1 or info.num_pending or info.num_ack_pending:
            return False
    return True


async def test_a_repeated_finding_updates_never_duplicates(harness: Harness) -> None:
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, FINDING)
    first = (await eventually(harness.findings, bool, what="a finding"))[0]
    assert (first.check_name, first.severity, first.source) == (
        "privileged_container",
        "critical",
        "scanner",
    )
    changed = copy.deepcopy(FINDING) | {"message": "still privileged"}
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, [changed])
    rows = await eventually(
        harness.findings, lambda r: r[0].message == "still privileged", what="the update"
    )
    assert [r.id for r in rows] == [first.id]
    other_container = copy.deepcopy(FINDING) | {"details": {"container": "sidecar"}}
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, other_container)
    rows = await eventually(harness.findings, lambda r: len(r) == 2, what="a second finding")
    events = await eventually(
        lambda: harness.feed("security_finding"),
        lambda e: len(e) == 2,
        what="two security_finding events",
    )
    assert {e["data"]["id"] for e in events} == {r.id for r in rows}
    assert events[0]["data"]["severity"] == "critical"


async def test_a_nameless_finding_is_dead_lettered(harness: Harness) -> None:
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, FINDING | {"namespace": ""})
    dead = await eventually(
        lambda: stored_messages(harness.nc, bus.deadletter_subject("ingest"), bus.DEADLETTER.name),
        bool,
        what="a dead letter",
    )
    assert (dead[0].headers or {})[bus.HDR_REASON] == "Resource name and namespace are required"


async def test_manifests_are_scanned_and_rescans_drop_what_is_fixed(harness: Harness) -> None:
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    rows = await eventually(
        harness.findings,
        lambda r: {"privileged-container", "untrusted-registry"} <= {x.check_name for x in r},
        what="built-in findings",
    )
    privileged = next(r for r in rows if r.check_name == "privileged-container")
    assert privileged.source == "builtin"
    assert privileged.json_path == "spec.template.spec.containers[0].securityContext.privileged"
    assert (privileged.resource_type, privileged.namespace, privileged.resource_name) == (
        "Deployment",
        "shop",
        "api",
    )
    await harness.publish(bus.COLLECT_MANIFESTS, deployment(privileged=False))
    rows = await eventually(
        harness.findings,
        lambda r: "privileged-container" not in {x.check_name for x in r},
        what="the fixed finding dropped",
    )
    assert "untrusted-registry" in {r.check_name for r in rows}


async def test_trusting_a_registry_rescans_and_the_finding_goes_and_comes(
    harness: Harness,
) -> None:
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    await eventually(lambda: harness.findings(check="untrusted-registry"), bool, what="untrusted")
    await eventually(lambda: _handled(harness, "manifests"), bool, what="the scan done")
    reply = await harness.command(AddRegistry(registry="evil.example.com"))
    assert reply.status == 201, reply
    await eventually(
        lambda: harness.findings(check="untrusted-registry"), lambda r: r == [], what="gone"
    )
    reply = await harness.command(RemoveRegistry(registry="evil.example.com"))
    assert reply.status == 200
    await eventually(lambda: harness.findings(check="untrusted-registry"), bool, what="back again")
    changes = await harness.feed("trusted_registry_change")
    assert [e["data"] for e in changes] == [
        {"registry": "evil.example.com", "action": "added"},
        {"registry": "evil.example.com", "action": "removed"},
    ]
    statuses = await eventually(
        lambda: harness.feed("security_rescan_status"), lambda e: len(e) == 4, what="4"
    )
    assert [e["data"]["status"] for e in statuses] == [
        "started",
        "completed",
        "started",
        "completed",
    ]
    assert statuses[0]["data"]["reason"] == "trusted_registry_change"
    reply = await harness.command(AddRegistry(registry="not a registry!"))
    assert reply.status == 400
    reply = await harness.command(RemoveRegistry(registry="never.trusted.io"))
    assert reply.status == 404


async def test_failed_pods_manifests_are_scanned(harness: Harness) -> None:
    manifest = (
        "api_version: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: shop\n"
        "spec:\n  host_network: true\n  containers:\n  - name: web\n"
        "    image: nginx:1.27\n"
    )
    report = {
        "pod_name": "web-1",
        "namespace": "shop",
        "failure_reason": "Error",
        "manifest": manifest,
    }
    await harness.publish(bus.COLLECT_POD_FAILURES, report)
    rows = await eventually(
        lambda: harness.findings(resource_name="web-1"), bool, what="the pod's findings"
    )
    assert "host-network" in {r.check_name for r in rows}
    assert all(r.resource_type == "Pod" for r in rows)


async def test_excluded_namespaces_get_no_findings(harness: Harness) -> None:
    await harness.settings.apply(add_pattern(EXCLUDED_NAMESPACES, "shop"))
    await eventually(
        lambda: _now(_excluded(harness.seen(), "shop", "x")), bool, what="exclusion seen"
    )
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, FINDING)
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    other = deployment()
    other["metadata"]["namespace"] = "billing"
    await harness.publish(bus.COLLECT_MANIFESTS, other)
    rows = await eventually(harness.findings, bool, what="billing's findings")
    assert {r.namespace for r in rows} == {"billing"}


async def test_dismiss_restore_clear_and_delete_resource(harness: Harness) -> None:
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, FINDING)
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    await eventually(lambda: _handled(harness, "findings", "manifests"), bool, what="both handled")
    rows = await harness.findings()
    assert {"scanner", "builtin"} == {x.source for x in rows}
    scanner_one = next(r for r in rows if r.source == "scanner")
    reply = await harness.command(DismissFinding(id=scanner_one.id))
    assert msgspec.json.decode(reply.body) == {"message": "Security finding dismissed"}
    assert scanner_one.id not in {r.id for r in await harness.findings()}
    assert [r.id for r in await harness.findings(dismissed=True)] == [scanner_one.id]
    await harness.publish(bus.COLLECT_SECURITY_FINDINGS, FINDING)  # a repeat keeps it dismissed
    await harness.command(RestoreFinding(id=scanner_one.id))
    assert scanner_one.id in {r.id for r in await harness.findings()}
    for command in (DismissFinding(id=999_999), RestoreFinding(id=999_999)):
        reply = await harness.command(command)
        assert (reply.status, reply.detail) == (404, "Finding not found")
    reply = await harness.command(ClearFindings())
    assert msgspec.json.decode(reply.body)["count"] == 1
    assert {r.source for r in await harness.findings()} == {"builtin"}
    reply = await harness.command(
        DeleteResourceFindings(resource_type="Deployment", namespace="shop", resource_name="api")
    )
    assert msgspec.json.decode(reply.body)["count"] > 0
    assert await harness.findings() == []


async def test_fix_without_an_llm_is_the_checks_remediation(harness: Harness) -> None:
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    rows = await eventually(
        lambda: harness.findings(check="privileged-container"), bool, what="a finding"
    )
    await eventually(lambda: _handled(harness, "manifests"), bool, what="the scan done")
    reply = await harness.command(FixFinding(id=rows[0].id))
    answer = msgspec.json.decode(reply.body)
    assert answer["is_fallback"] is True
    assert answer["finding_id"] == rows[0].id
    assert "privileged" in answer["explanation"].lower()
    assert "kind: Deployment" in answer["original_manifest"]
    assert DB_PASSWORD not in answer["original_manifest"]
    reply = await harness.command(FixFinding(id=424242))
    assert (reply.status, reply.detail) == (404, "Finding not found")


async def test_fix_with_an_llm_rewrites_the_manifest_without_seeing_secrets(
    harness: Harness,
) -> None:
    fixed = (
        "Here is the fix.\n```yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        "  name: api\n  namespace: shop\nspec:\n  replicas: 2\n  template:\n    spec:\n"
        "      containers:\n      - name: app\n        securityContext:\n"
        "          privileged: false\n```\nSet privileged to false."
    )
    await harness.publish(bus.COLLECT_MANIFESTS, deployment())
    rows = await eventually(
        lambda: harness.findings(check="privileged-container"), bool, what="a finding"
    )
    await eventually(lambda: _handled(harness, "manifests"), bool, what="the scan done")
    async with serve_fake_llm(fixed) as server:
        await harness.settings.set(
            LLM_CONFIG,
            LLMConfig(
                provider="openai",
                model="gpt-4o-mini",
                api_key="sk-" + "x" * 20,
                base_url=server.url,
            ),
        )
        await eventually(
            lambda: _now(admin_settings.llm_config(harness.seen()) is not None),
            bool,
            what="LLM seen",
        )
        reply = await harness.command(FixFinding(id=rows[0].id))
    answer = msgspec.json.decode(reply.body)
    assert answer["is_fallback"] is False
    assert "privileged: false" in answer["fixed_manifest"]
    assert {"content": "          privileged: false", "type": "added"} in answer["diff"]
    assert answer["explanation"] == "Here is the fix.\n\nSet privileged to false."
    prompt = server.requests[0].body.decode()
    assert "privileged" in prompt
    assert DB_PASSWORD not in prompt


async def test_an_ad_hoc_scan_answers_findings_and_stores_nothing(harness: Harness) -> None:
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
        "spec:\n  type: NodePort\n  ports:\n  - port: 80\n"
    )
    reply = await harness.command(ScanManifest(manifest=manifest))
    body = msgspec.json.decode(reply.body)
    assert body["scanned"] == 1
    assert any(f["resource_type"] == "Service" for f in body["findings"])
    assert await harness.findings() == []
    reply = await harness.command(ScanManifest(manifest="kind: [unclosed"))
    assert reply.status == 400
    assert reply.detail is not None and reply.detail.startswith("Invalid manifest")


async def test_a_manifest_nested_too_deeply_is_skipped_alone(harness: Harness) -> None:
    """The deep manifest's report is skipped by the scanner; the one beside it is scanned."""
    for name, manifest in (
        ("deep", "[" * 5000 + "]" * 5000),
        ("deep-flow", "kind: Pod\nspec: " + "{a: " * 5000 + "1" + "}" * 5000),
    ):
        await harness.publish(
            bus.COLLECT_POD_FAILURES,
            {
                "pod_name": name,
                "namespace": "shop",
                "failure_reason": "Error",
                "manifest": manifest,
            },
        )
    plain = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-2\n  namespace: shop\n"
        "spec:\n  hostNetwork: true\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    )
    await harness.publish(
        bus.COLLECT_POD_FAILURES,
        {"pod_name": "web-2", "namespace": "shop", "failure_reason": "Error", "manifest": plain},
    )
    rows = await eventually(
        lambda: harness.findings(resource_name="web-2"), bool, what="the plain pod's findings"
    )
    assert "host-network" in {r.check_name for r in rows}
    assert await stored_messages(harness.nc, bus.DEADLETTER_PREFIX + ">", bus.DEADLETTER.name) == []


def _excluded(store: AppSettings, namespace: str, pod_name: str) -> bool:
    """Whether the pod is excluded by the patterns ``store`` holds."""
    return is_excluded(
        namespace,
        pod_name,
        admin_settings.excluded_namespaces(store),
        store.get(EXCLUDED_PODS).patterns,
    )
