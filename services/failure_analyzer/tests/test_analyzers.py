"""The offline analyzers against realistic Kure agent reports (tests/reports/*.json)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import msgspec
import pytest

from kubeward.failure_analyzer import diagnosis as diagnosis_module
from kubeward.failure_analyzer.analyzers import ANALYZERS
from kubeward.failure_analyzer.diagnosis import diagnose, render
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.failure_analyzer.report_view.log_blocks import decode_block
from kubeward.failure_analyzer.report_view.manifest import parse_manifest
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodEvent,
    PodFailureReport,
)

REPORTS = Path(__file__).parent / "reports"


def load(name: str) -> PodFailureReport:
    """A report file decoded exactly as the service decodes the agent's JSON."""
    return msgspec.json.decode((REPORTS / f"{name}.json").read_bytes(), type=PodFailureReport)


def gz(text: str) -> str:
    """A log block as the agent encodes it."""
    return base64.b64encode(gzip.compress(text.encode())).decode()


# report -> (primary analyzer, strings the title/root cause must name)
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "image_not_found": ("image-pull.not-found", ("ghcr.io/acme/checkout:v2.14.0",)),
    "image_auth": ("image-pull.auth", ("registry.acme.io/payments/api:1.8.3", "registry.acme.io")),
    "image_invalid_name": ("image-pull.invalid-name", ("Nginx:1.25",)),
    "image_rate_limit": ("image-pull.rate-limit", ("redis:7.2.4", "docker.io")),
    "image_never_pull": ("image-pull.never-pull", ("acme/report-builder:dev", "kind-worker")),
    "image_registry_dns": ("image-pull.registry-unreachable", ("registry.internal.corp",)),
    "crash_missing_env_python": ("crash.missing-env", ("DATABASE_URL", "`api`")),
    "crash_missing_env_go": ("crash.missing-env", ("STRIPE_API_KEY",)),
    "crash_missing_config_file_node": (
        "crash.missing-file",
        ("/app/config/settings.json", "notifier-config"),
    ),
    "crash_missing_module_node": ("crash.missing-module", ("express",)),
    "crash_connection_refused_python": ("crash.dependency-unreachable", ("postgres:5432",)),
    "crash_dns_node": ("crash.dependency-dns", ("redis-master",)),
    "crash_timeout_go": ("crash.dependency-unreachable", ("10.20.30.40:9092",)),
    "crash_permission_denied_node": (
        "crash.permission-denied",
        ("/app/.cache/sharp", "readOnlyRootFilesystem"),
    ),
    "crash_java_oom": ("crash.app-out-of-memory", ("OutOfMemoryError", "1Gi")),
    "crash_port_in_use": ("crash.port-in-use", ("8080", "metrics-proxy")),
    "crash_go_panic": ("crash.panic", ("nil pointer dereference",)),
    "crash_db_auth": ("crash.database-auth", ("orders", "orders-db")),
    "crash_exit_127": ("crash.command-not-found", ("127", "runner")),
    "crash_segfault_no_logs": ("crash.segfault", ("139", "SIGSEGV")),
    "crash_completed": ("crash.completed", ("exit code `0`",)),
    "oom_killed": ("oom.killed", ("512Mi", "`api`")),
    "oom_killed_no_limit": ("oom.killed", ("no memory limit",)),
    "sched_insufficient_memory": (
        "scheduling.insufficient-resources",
        ("0/3 nodes are available", "Insufficient memory", "12Gi"),
    ),
    "sched_taint": ("scheduling.untolerated-taint", ("dedicated=gpu",)),
    "sched_node_selector": ("scheduling.node-selector-mismatch", ("disktype=nvme",)),
    "sched_unbound_pvc": ("scheduling.unbound-pvc", ("data-postgres-0", "StorageClass")),
    "sched_volume_node_affinity": ("scheduling.volume-node-affinity", ("data-elasticsearch-1",)),
    "sched_too_many_pods": ("scheduling.too-many-pods", ("Too many pods",)),
    "sched_host_ports": ("scheduling.ports-in-use", ("proxy:80",)),
    "mount_secret_missing": ("mount.secret-not-found", ("api-tls", "tls-certs")),
    "mount_configmap_missing": ("mount.configmap-not-found", ("nginx-conf",)),
    "mount_pvc_missing": ("mount.pvc-not-found", ("data-redis-0",)),
    "mount_multi_attach": ("mount.multi-attach", ("pvc-6f1c2d7e-9a7b-4f0e-8c55-3e2b1d0a9f84",)),
    "mount_nfs_failed": ("mount.failed", ("shared", "nfs")),
    "config_secret_missing": ("config.secret-not-found", ("db-credentials", "DB_PASSWORD")),
    "config_secret_key_missing": (
        "config.secret-key-not-found",
        ("redis-password", "cache-credentials", "REDIS_PASSWORD"),
    ),
    "config_configmap_missing": ("config.configmap-not-found", ("feature-flags", "envFrom")),
    "config_run_as_non_root": ("config.run-as-non-root", ("runAsNonRoot", "`web`")),
    "runtime_executable_not_found": ("runtime.executable-not-found", ("gunicorn",)),
    "runtime_exec_format": ("runtime.exec-format", ("ghcr.io/acme/edge-agent:0.3.0",)),
    "probe_liveness": ("probe.liveness-failed", ("/healthz", "8080", "3000")),
    "probe_readiness": ("probe.readiness-failed", ("503", "/ready")),
    "probe_startup": ("probe.startup-failed", ("/actuator/health", "timeoutSeconds")),
    "init_crash_loop": (
        "init.failed",
        ("wait-for-db", "bad address 'postgres'", "nslookup postgres"),
    ),
    "init_error_extension": ("init.failed", ("migrate", "`2`")),
    "service_account_missing": ("service-account.not-found", ("reporter-sa",)),
    "pending_too_long": ("pending.too-long", ("Pending", "volcano")),
    "evicted_memory_pressure": ("eviction.memory-pressure", ("memory", "1843204Ki", "128Mi")),
    "evicted_disk_pressure": ("eviction.disk-pressure", ("ephemeral-storage", "shipper")),
    "evicted_ephemeral_limit": ("eviction.ephemeral-storage-limit", ("2Gi",)),
    "node_lost": ("node.not-ready", ("worker-3",)),
    "sandbox_cni": ("pending.sandbox-failed", ("worker-4", "CNI")),
    "unknown_status": ("generic.unknown", ("ContainerStatusUnknown",)),
    "healthy_running": ("generic.unknown", ("catalog-6c5d4e3f2-ok7hp",)),
}


def test_every_report_file_has_an_expectation() -> None:
    files = {p.stem for p in REPORTS.glob("*.json")}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_primary_finding(name: str) -> None:
    report = load(name)
    analyzer, needles = EXPECTED[name]
    result = diagnose(report)
    primary = result.primary
    assert primary is not None
    assert primary.analyzer == analyzer, [f.analyzer for f in result.findings]
    text = primary.title + "\n" + primary.root_cause
    for needle in needles:
        assert needle in text, (needle, text)
    assert primary.fix, "a finding needs fix steps"
    assert primary.evidence, "a finding needs evidence"
    assert all(len(item.detail) <= 200 for item in primary.evidence)
    assert any(f"-n {report.namespace} " in cmd for cmd in primary.verify), primary.verify
    confidences = [f.confidence for f in result.findings]
    assert confidences == sorted(confidences, reverse=True)
    assert len({f.analyzer for f in result.findings}) == len(result.findings)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_render(name: str) -> None:
    report = load(name)
    result = diagnose(report)
    primary = result.primary
    assert primary is not None
    text = render(report, result)
    for heading in ("## Root Cause", "## Fix", "## Verify", "## Evidence"):
        assert f"\n{heading}\n" in text
    assert text.index("## Root Cause") < text.index("## Fix") < text.index("## Verify")
    fix = text.split("## Fix", 1)[1].split("## Verify", 1)[0]
    assert "\n1. " in fix
    verify = text.split("## Verify", 1)[1].split("## Evidence", 1)[0]
    assert "```bash" in verify
    assert f"-n {report.namespace}" in verify
    evidence = text.split("## Evidence", 1)[1]
    assert f"- **{primary.evidence[0].source}**" in evidence
    assert ("## Also Noticed" in text) == (len(result.findings) > 1)


def test_specific_log_line_beats_exit_code() -> None:
    result = diagnose(load("crash_missing_env_python"))
    ids = [f.analyzer for f in result.findings]
    assert ids[0] == "crash.missing-env"
    assert "crash.exit-code" in ids
    assert ids.index("crash.missing-env") < ids.index("crash.exit-code")


def test_scheduling_secondary_reason_is_noticed() -> None:
    report = load("sched_insufficient_memory")
    result = diagnose(report)
    assert [f.analyzer for f in result.findings][:2] == [
        "scheduling.insufficient-resources",
        "scheduling.untolerated-taint",
    ]
    assert "node-role.kubernetes.io/control-plane" in result.findings[1].title
    assert "## Also Noticed" in render(report, result)


def test_oom_suggests_double_limit() -> None:
    finding = diagnose(load("oom_killed")).primary
    assert finding is not None
    assert any("--limits=memory=1Gi" in step for step in finding.fix)
    assert any(e.source == "manifest" and "512Mi" in e.detail for e in finding.evidence)


def test_oom_reads_last_state_from_the_agent_manifest() -> None:
    # The flattened status only says CrashLoopBackOff; OOMKilled is in status.last_state.
    report = load("oom_killed")
    assert report.container_statuses is not None
    assert report.container_statuses[0].last_reason is None
    assert "last_state" in (report.manifest or "")
    view = ReportView(report)
    assert view.statuses[0].last_reason == "OOMKilled"
    assert view.statuses[0].last_exit_code == 137


@pytest.mark.parametrize(
    "name",
    [n for n, (a, _) in EXPECTED.items() if a != "oom.killed"],
)
def test_oom_analyzer_only_fires_on_oom(name: str) -> None:
    ids = {f.analyzer for f in diagnose(load(name)).findings}
    assert "oom.killed" not in ids


def test_healthy_report_triggers_no_specific_analyzer() -> None:
    ids = [f.analyzer for f in diagnose(load("healthy_running")).findings]
    assert ids == ["generic.unknown"]


def test_unrelated_logs_do_not_trigger_crash_analyzers() -> None:
    # A running, ready pod whose logs mention errors is not crash-looping.
    report = msgspec.structs.replace(
        load("healthy_running"),
        logs="ERROR connect ECONNREFUSED 10.0.0.5:5432\nKeyError: 'DATABASE_URL'\npanic: boom\n",
    )
    ids = {f.analyzer for f in diagnose(report).findings}
    assert not any(i.startswith("crash.") for i in ids), ids


def test_generic_fallback_lists_next_steps() -> None:
    finding = diagnose(load("unknown_status")).primary
    assert finding is not None
    assert finding.analyzer == "generic.unknown"
    assert any("describe pod legacy-5a4b3c2d1-uk6nw" in step for step in finding.fix)
    assert any("-n legacy" in cmd for cmd in finding.verify)


def test_nulls_everywhere_do_not_raise() -> None:
    raw = (
        b'{"pod_name": "p", "namespace": "n", "node_name": null, "phase": null,'
        b' "creation_timestamp": null, "failure_reason": null, "failure_message": null,'
        b' "container_statuses": null, "init_container_statuses": null, "events": null,'
        b' "logs": null, "manifest": null, "failure_logs": null}'
    )
    for report in (PodFailureReport(), msgspec.json.decode(raw, type=PodFailureReport)):
        result = diagnose(report)
        assert result.primary is not None
        assert result.primary.analyzer == "generic.unknown"
        assert "## Root Cause" in render(report, result)


def test_null_fields_from_the_agent_decode_and_diagnose() -> None:
    raw = (
        b'{"pod_name": "x-1", "namespace": "ns1", "node_name": null, "phase": "Pending",'
        b' "creation_timestamp": "not a date", "failure_reason": "CrashLoopBackOff",'
        b' "failure_message": null, "container_statuses": [{"name": null, "state": null,'
        b' "restart_count": null, "exit_code": null}], "events": [{"type": null,'
        b' "reason": null, "message": null}], "logs": null, "manifest": null}'
    )
    report = msgspec.json.decode(raw, type=PodFailureReport)
    result = diagnose(report)
    assert result.primary is not None
    render(report, result)


@pytest.mark.parametrize(
    "manifest",
    [
        "{{{ not yaml",
        "- just\n- a list\n",
        "spec: 12\nstatus: [1, 2]\nmetadata: null\n",
        "spec:\n  containers: {a: b}\n  volumes: 7\n  initContainers:\n  - null\n  - 3\n",
        "spec:\n  containers:\n  - name: x\n    resources:\n      limits:\n        memory: lots\n",
        "\x00\x01binary",
        "a: &x [1]\nb: *x\n" * 3,
        "# Error generating pod manifest",
    ],
)
def test_garbage_manifest_does_not_raise(manifest: str) -> None:
    for name in ("oom_killed", "probe_liveness", "sched_node_selector", "init_crash_loop"):
        report = msgspec.structs.replace(load(name), manifest=manifest)
        result = diagnose(report)
        assert result.primary is not None
        assert "## Evidence" in render(report, result)


def test_snake_and_camel_manifests_read_the_same() -> None:
    snake = ReportView(load("probe_liveness"))  # kubectl style: camelCase
    assert snake.containers[0].probes["liveness"]["httpGet"]["path"] == "/healthz"
    agent = ReportView(load("oom_killed"))  # agent style: snake_case keys
    assert "volume_mounts" in (agent.report.manifest or "")
    container = agent.containers[0]
    assert container.limits == {"cpu": "1", "memory": "512Mi"}
    assert (
        container.volume_mounts[0]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    )
    assert agent.workload == "deployment/recommender"
    assert agent.selector == "app=recommender"
    projected = agent.volumes[0]["projected"]["sources"]
    assert "serviceAccountToken" in projected[0]


def test_camel_keeps_user_keys() -> None:
    manifest = parse_manifest(
        "metadata:\n  labels:\n    team_name: a_b\nspec:\n  node_selector:\n    disk_type: ssd\n"
    )
    assert manifest["metadata"]["labels"] == {"team_name": "a_b"}
    assert manifest["spec"]["nodeSelector"] == {"disk_type": "ssd"}


def test_failure_logs_are_decoded_when_logs_are_empty() -> None:
    report = msgspec.structs.replace(load("crash_missing_env_python"), logs="")
    finding = diagnose(report).primary
    assert finding is not None
    assert finding.analyzer == "crash.missing-env"
    assert any("previous logs of container api" in e.detail for e in finding.evidence)


def test_bad_failure_log_block_is_skipped() -> None:
    logs = FailureLogs(
        containers={
            "api": FailureLogEntry(previous=FailureLogBlock(data="!!!not base64 gzip!!!")),
            "other": FailureLogEntry(
                previous=FailureLogBlock(data=base64.b64encode(b"x").decode())
            ),
            "side": FailureLogEntry(error="no_previous_instance"),
        }
    )
    report = msgspec.structs.replace(load("crash_missing_env_python"), logs="", failure_logs=logs)
    result = diagnose(report)
    assert result.primary is not None
    assert result.primary.analyzer == "crash.exit-code"
    assert decode_block("!!!") is None


def test_large_log_is_bounded_to_its_tail() -> None:
    text = ("INFO filler line\n" * 20000) + "KeyError: 'PAYMENT_TOKEN'\n"
    block = FailureLogBlock(data=gz(text))
    report = msgspec.structs.replace(
        load("crash_missing_env_python"),
        logs="",
        failure_logs=FailureLogs(containers={"api": FailureLogEntry(previous=block)}),
    )
    view = ReportView(report)
    assert len(view.logs[0].text) <= 64 * 1024
    finding = diagnose(report).primary
    assert finding is not None
    assert "PAYMENT_TOKEN" in finding.root_cause


def test_raising_analyzer_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(view: ReportView) -> Finding | None:
        raise RuntimeError("bug")

    monkeypatch.setattr(diagnosis_module, "ANALYZERS", (broken, *ANALYZERS))
    result = diagnose(load("oom_killed"))
    assert result.primary is not None
    assert result.primary.analyzer == "oom.killed"


def test_pending_young_pod_is_not_too_long() -> None:
    from datetime import UTC, datetime

    report = msgspec.structs.replace(
        load("pending_too_long"), creation_timestamp=datetime.now(UTC).isoformat()
    )
    ids = [f.analyzer for f in diagnose(report).findings]
    assert "pending.too-long" not in ids


def test_init_container_from_events_only() -> None:
    # What the Kure agent sends: no init statuses of its own, the name only in events.
    report = PodFailureReport(
        pod_name="web-1",
        namespace="apps",
        phase="Pending",
        failure_reason="Init:CrashLoopBackOff",
        container_statuses=[ContainerStatus(name="web", state="waiting", reason="PodInitializing")],
        events=[
            PodEvent(
                type="Warning",
                reason="BackOff",
                message="Back-off restarting failed container copy-assets in pod web-1_apps(1)",
            )
        ],
        manifest="spec:\n  initContainers:\n  - name: copy-assets\n    image: busybox\n"
        "  containers:\n  - name: web\n    image: nginx\n",
    )
    finding = diagnose(report).primary
    assert finding is not None
    assert finding.analyzer == "init.failed"
    assert "copy-assets" in finding.root_cause
