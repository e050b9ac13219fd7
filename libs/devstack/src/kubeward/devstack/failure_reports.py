"""Realistic Kure agent failure reports, generated from a seed: the factory ``bench.failures``,
``bench.failure_http``, ``bench.failure_pages``, ``bench.soak`` and tests share.

Each distinct pod fails one way for good (CrashLoopBackOff with application logs, some as
gzip+base64 ``failure_logs``; ImagePullBackOff; OOMKilled; FailedScheduling; FailedMount;
CreateContainerConfigError; failing init containers), so a repeat report of a pod tells the
same story at a later time. Reports carry what the agent sends: events, container statuses,
a manifest (the Kubernetes Python client's ``to_dict()`` dumped by PyYAML, ~3 KB), logs.

Typical use::

    workload = generate(1000, repeat_share=0.2, seed=11)
    workload.messages[0]  # one report as JSON, as an agent publishes it
"""

from __future__ import annotations

import base64
import gzip
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import yaml

from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodEvent,
    PodFailureReport,
)

_APPS = (
    ("checkout", "python"),
    ("cart", "node"),
    ("catalog", "java"),
    ("payments", "go"),
    ("auth", "python"),
    ("search", "java"),
    ("orders", "python"),
    ("shipping", "go"),
    ("recommend", "python"),
    ("email", "node"),
    ("frontend", "node"),
    ("inventory", "go"),
    ("reviews", "python"),
    ("pricing", "java"),
    ("ledger", "go"),
    ("notifier", "node"),
    ("reports", "python"),
    ("ingester", "go"),
)
NAMESPACES = ("shop", "payments", "platform", "data", "edge", "monitoring", "default", "batch")
_REGISTRIES = ("ghcr.io/acme", "registry.acme.internal/apps", "docker.io/acme", "quay.io/acme")
_NODES = tuple(f"worker-{i}" for i in range(1, 13))
_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"
_MEMORY = ("128Mi", "256Mi", "512Mi", "1Gi")

KINDS: tuple[tuple[str, float], ...] = (
    ("CrashLoopBackOff", 0.32),
    ("ImagePullBackOff", 0.14),
    ("OOMKilled", 0.14),
    ("FailedScheduling", 0.14),
    ("FailedMount", 0.10),
    ("CreateContainerConfigError", 0.10),
    ("Init:CrashLoopBackOff", 0.06),
)
"""Failure kinds and their shares of the distinct pods."""


@dataclass
class Pod:
    """A failing pod and how it fails (fixed, so a repeat report tells the same story)."""

    name: str
    namespace: str
    app: str
    lang: str
    image: str
    node: str
    memory: str
    uid: str
    rs: str
    rs_uid: str
    kind: str
    variant: int
    created: datetime
    reports: int = 0


@dataclass
class Workload:
    """The generated reports, already encoded as collect messages, and their statistics."""

    messages: list[bytes]
    reports: list[PodFailureReport]
    distinct: int
    kinds: Counter[str] = field(default_factory=Counter)
    with_failure_logs: int = 0

    @property
    def repeats(self) -> int:
        """Reports about a pod reported before."""
        return len(self.reports) - self.distinct

    @property
    def payload_bytes(self) -> int:
        """Bytes of every collect message together."""
        return sum(len(m) for m in self.messages)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _startup_lines(rng: random.Random, pod: Pod, at: datetime) -> list[str]:
    """Ordinary application start-up output before the failure."""
    steps = (
        f"starting {pod.app} version 2.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
        "loading configuration from environment",
        f"log level INFO, workers={rng.randint(2, 8)}",
        "registering metrics on :9090/metrics",
        "initialising tracing exporter otlp://otel-collector.monitoring:4317",
        "connecting to cache redis://redis.shop.svc.cluster.local:6379/0",
        "cache connection established",
        "warming up caches",
        "loaded 3 feature flags",
        "health endpoint ready on :8081/healthz",
    )
    lines = []
    for index in range(rng.randint(12, 40)):
        at += timedelta(milliseconds=rng.randint(1, 80))
        text = steps[index % len(steps)]
        lines.append(f"{_log_time(at)} INFO  [{pod.app}] {text}")
    return lines


def _crash_tail(pod: Pod) -> list[str]:
    """The last lines of a crashing application: the cause, in the app's language."""
    db = f"postgres.{pod.namespace}.svc.cluster.local"
    variant = pod.variant % 6
    if pod.lang == "python":
        if variant == 0:
            return [
                "Traceback (most recent call last):",
                '  File "/app/main.py", line 42, in <module>',
                "    engine = connect(settings.database_url)",
                '  File "/app/db.py", line 17, in connect',
                "    return psycopg2.connect(url)",
                f'psycopg2.OperationalError: connection to server at "{db}" (10.96.44.12), '
                "port 5432 failed: Connection refused",
                "\tIs the server running on that host and accepting TCP/IP connections?",
            ]
        if variant == 1:
            return [
                "Traceback (most recent call last):",
                '  File "/app/settings.py", line 9, in <module>',
                '    DATABASE_URL = os.environ["DATABASE_URL"]',
                '  File "<frozen os>", line 679, in __getitem__',
                "KeyError: 'DATABASE_URL'",
            ]
        if variant == 2:
            return [
                "Traceback (most recent call last):",
                '  File "/app/main.py", line 3, in <module>',
                "    import requests",
                "ModuleNotFoundError: No module named 'requests'",
            ]
        if variant == 3:
            return [
                "Traceback (most recent call last):",
                '  File "/app/main.py", line 12, in <module>',
                '    with open("/etc/app/config.yaml") as fh:',
                "FileNotFoundError: [Errno 2] No such file or directory: '/etc/app/config.yaml'",
            ]
        if variant == 4:
            return [
                f'psycopg2.OperationalError: connection to server at "{db}" (10.96.44.12), '
                f'port 5432 failed: FATAL:  password authentication failed for user "{pod.app}"',
            ]
        return [
            "Traceback (most recent call last):",
            '  File "/app/worker.py", line 88, in run',
            "    total = sum(item.price for item in order.items)",
            "AttributeError: 'NoneType' object has no attribute 'items'",
        ]
    if pod.lang == "node":
        if variant in (0, 4):
            return [
                "node:internal/process/promises:289",
                "            triggerUncaughtException(err, true /* fromPromise */);",
                "            ^",
                "",
                f"Error: connect ECONNREFUSED 10.96.44.12:5432 ({db})",
                "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {",
                "  errno: -111,",
                "  code: 'ECONNREFUSED',",
                "  syscall: 'connect',",
                "}",
            ]
        if variant in (1, 5):
            return ["Error: Missing required environment variable: STRIPE_API_KEY"]
        if variant == 2:
            return [
                "Error: listen EADDRINUSE: address already in use :::8080",
                "    at Server.setupListenHandle [as _listen2] (node:net:1817:16)",
            ]
        return [
            "Error: Cannot find module 'express'",
            "Require stack:",
            "- /app/server.js",
            "    at Module._resolveFilename (node:internal/modules/cjs/loader:1145:15) {",
            "  code: 'MODULE_NOT_FOUND',",
            "}",
        ]
    if pod.lang == "java":
        if variant in (0, 3):
            return [
                'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
                "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
                "\tat com.acme.catalog.Indexer.load(Indexer.java:211)",
                "\tat com.acme.catalog.Main.main(Main.java:34)",
            ]
        if variant in (1, 4):
            return [
                "org.springframework.beans.factory.BeanCreationException: Error creating bean "
                "with name 'dataSource'",
                "Caused by: org.postgresql.util.PSQLException: Connection to "
                f"{db}:5432 refused. Check that the hostname and port are correct.",
                "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl"
                "(ConnectionFactoryImpl.java:346)",
            ]
        return [
            "***************************",
            "APPLICATION FAILED TO START",
            "***************************",
            "Description:",
            "Web server failed to start. Port 8080 was already in use.",
        ]
    # go
    if variant in (0, 3):
        return [
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b2f3a]",
            "",
            "goroutine 1 [running]:",
            f"main.(*Server).Start(0x0)\n\t/src/cmd/{pod.app}/server.go:57 +0x3a",
            f"main.main()\n\t/src/cmd/{pod.app}/main.go:31 +0x1c5",
        ]
    if variant in (1, 4):
        return [
            f'{{"level":"fatal","msg":"cannot connect to database","error":"dial tcp '
            f'10.96.44.12:5432: connect: connection refused","host":"{db}"}}',
        ]
    return [
        '{"level":"fatal","msg":"listen failed","error":"listen tcp :8080: bind: '
        'address already in use"}',
    ]


def _failure_logs(container: str, text: str) -> FailureLogs:
    """The agent's optional previous-instance logs, gzip+base64 as it sends them."""
    data = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    block = FailureLogBlock(
        data=data, original_size=len(text), lines=text.count("\n") + 1, truncated=False
    )
    return FailureLogs(containers={container: FailureLogEntry(previous=block)})


def _manifest(pod: Pod, kind: str, phase: str, statuses: list[ContainerStatus]) -> str:
    """The pod as the Kure agent sends it: YAML of the Python client's ``to_dict()``."""
    container: dict[str, Any] = {
        "name": pod.app,
        "image": pod.image,
        "image_pull_policy": "IfNotPresent",
        "ports": [{"container_port": 8080, "name": "http", "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info", "value_from": None},
            {
                "name": "DATABASE_URL",
                "value": None,
                "value_from": {
                    "secret_key_ref": {"key": "url", "name": f"{pod.app}-db", "optional": None}
                },
            },
        ],
        "env_from": [{"config_map_ref": {"name": f"{pod.app}-config", "optional": None}}],
        "resources": {
            "limits": {"cpu": "500m", "memory": pod.memory},
            "requests": {"cpu": "100m", "memory": pod.memory},
        },
        "liveness_probe": {
            "http_get": {"path": "/healthz", "port": 8081, "scheme": "HTTP"},
            "initial_delay_seconds": 10,
            "period_seconds": 10,
            "failure_threshold": 3,
        },
        "volume_mounts": [
            {"mount_path": "/etc/app", "name": "config", "read_only": True},
            {
                "mount_path": "/var/run/secrets/kubernetes.io/serviceaccount",
                "name": "kube-api-access",
                "read_only": True,
            },
        ],
        "security_context": {"run_as_non_root": True, "allow_privilege_escalation": False},
        "termination_message_path": "/dev/termination-log",
        "termination_message_policy": "File",
    }
    volumes: list[dict[str, Any]] = [
        {"name": "config", "config_map": {"name": f"{pod.app}-config", "default_mode": 420}},
        {"name": "kube-api-access", "projected": {"default_mode": 420, "sources": []}},
    ]
    spec: dict[str, Any] = {
        "containers": [container],
        "dns_policy": "ClusterFirst",
        "enable_service_links": True,
        "node_name": None if phase == "Pending" and kind == "FailedScheduling" else pod.node,
        "restart_policy": "Always",
        "scheduler_name": "default-scheduler",
        "service_account_name": pod.app,
        "termination_grace_period_seconds": 30,
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "toleration_seconds": 300,
            }
        ],
        "volumes": volumes,
        "affinity": None,
        "node_selector": None,
    }
    if kind == "FailedScheduling" and pod.variant % 4 == 2:
        spec["node_selector"] = {"acme.io/pool": "gpu"}
    if kind == "FailedScheduling" and pod.variant % 4 == 3:
        volumes.append(
            {"name": "data", "persistent_volume_claim": {"claim_name": f"{pod.app}-data"}}
        )
    if kind == "FailedMount" and pod.variant % 3 == 1:
        volumes.append({"name": "tls", "secret": {"secret_name": f"{pod.app}-tls"}})
    if kind == "Init:CrashLoopBackOff":
        spec["init_containers"] = [
            {
                "name": "wait-for-db",
                "image": "docker.io/library/busybox:1.36",
                "command": [
                    "sh",
                    "-c",
                    f"until nc -z postgres.{pod.namespace} 5432; do sleep 2; done"
                    if pod.variant % 2 == 0
                    else "/scripts/migrate.sh",
                ],
            }
        ]
    manifest = {
        "api_version": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "creation_timestamp": pod.created,
            "generate_name": f"{pod.app}-{pod.rs}-",
            "labels": {"app": pod.app, "pod-template-hash": pod.rs},
            "annotations": {"kubectl.kubernetes.io/restartedAt": _iso(pod.created)},
            "owner_references": [
                {
                    "api_version": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{pod.app}-{pod.rs}",
                    "uid": pod.rs_uid,
                    "controller": True,
                    "block_owner_deletion": True,
                }
            ],
            "resource_version": str(1_000_000 + pod.reports),
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "host_ip": None if spec["node_name"] is None else "10.0.3.17",
            "pod_ip": None if phase == "Pending" else "10.244.3.41",
            "qos_class": "Burstable",
            "start_time": pod.created,
            "container_statuses": [
                {
                    "name": s.name,
                    "image": s.image,
                    "ready": s.ready,
                    "restart_count": s.restart_count,
                    "state": {s.state or "waiting": {"reason": s.reason, "message": s.message}},
                }
                for s in statuses
            ]
            or None,
        },
    }
    return str(yaml.dump(manifest, Dumper=_DUMPER, default_flow_style=False))


_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _event(reason: str, message: str, at: datetime, count: int, kind: str = "Warning") -> PodEvent:
    return PodEvent(type=kind, reason=reason, message=message, timestamp=_iso(at), count=count)


def _report(rng: random.Random, pod: Pod, at: datetime) -> tuple[PodFailureReport, bool]:
    """One report about ``pod`` as of ``at``; ``True`` when it carries ``failure_logs``."""
    pod.reports += 1
    restarts = pod.reports * rng.randint(1, 3) + rng.randint(0, 2)
    scheduled = _event(
        "Scheduled",
        f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}",
        pod.created,
        1,
        "Normal",
    )
    status = ContainerStatus(name=pod.app, ready=False, restart_count=0, image=pod.image)
    phase, reason, message, logs = "Running", pod.kind, None, None
    events: list[PodEvent] = []
    init: list[ContainerStatus] | None = None
    failure_logs = None
    if pod.kind == "CrashLoopBackOff":
        tail = _crash_tail(pod)
        lines = _startup_lines(rng, pod, at - timedelta(seconds=30)) + tail
        logs = "\n".join(lines)
        exit_code = 2 if pod.variant % 11 == 10 else 1
        message = f"back-off 5m0s restarting failed container={pod.app} pod={pod.name}"
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=restarts,
            image=pod.image,
            state="waiting",
            reason="CrashLoopBackOff",
            message=message,
            last_state="terminated",
            last_reason="Error",
            last_exit_code=exit_code,
        )
        events = [
            scheduled,
            _event(
                "Pulled",
                f'Container image "{pod.image}" already present on machine',
                at - timedelta(minutes=2),
                restarts,
                "Normal",
            ),
            _event("BackOff", "Back-off restarting failed container", at, restarts * 4),
        ]
        if pod.variant % 2 == 0:
            failure_logs = _failure_logs(pod.app, logs)
    elif pod.kind == "ImagePullBackOff":
        variant = pod.variant % 3
        ref = f"{pod.image.rsplit(':', 1)[0]}:{'v9.9.9' if variant == 0 else '2.3.1'}"
        cause = (
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f"{ref}: not found",
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            "failed to authorize: failed to fetch anonymous token: unexpected status from GET "
            "request: 401 Unauthorized",
            f'failed to pull and unpack image "{ref}": failed to copy: httpReadSeeker: failed '
            "open: unexpected status code https://registry-1.docker.io/v2/: 429 Too Many "
            "Requests - Server message: toomanyrequests: You have reached your pull rate limit.",
        )[variant]
        grpc = (
            "rpc error: code = NotFound desc = "
            if variant == 0
            else "rpc error: code = Unknown desc = "
        )
        pull_error = f'Failed to pull image "{ref}": {grpc}{cause}'
        phase, message = "Pending", f'Back-off pulling image "{ref}"'
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=0,
            image=ref,
            state="waiting",
            reason="ImagePullBackOff",
            message=message,
        )
        events = [
            scheduled,
            _event(
                "Pulling",
                f'Pulling image "{ref}"',
                at - timedelta(minutes=1),
                pod.reports,
                "Normal",
            ),
            _event("Failed", pull_error, at - timedelta(seconds=50), pod.reports),
            _event("Failed", "Error: ErrImagePull", at - timedelta(seconds=50), pod.reports),
            _event("BackOff", f'Back-off pulling image "{ref}"', at, pod.reports * 3, "Normal"),
            _event("Failed", "Error: ImagePullBackOff", at, pod.reports * 3),
        ]
    elif pod.kind == "OOMKilled":
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=restarts,
            image=pod.image,
            state="waiting",
            reason="CrashLoopBackOff",
            message=f"back-off 2m40s restarting failed container={pod.app} pod={pod.name}",
            last_state="terminated",
            last_reason="OOMKilled",
            last_exit_code=137,
        )
        events = [
            scheduled,
            _event("BackOff", "Back-off restarting failed container", at, restarts * 2),
        ]
        logs = "\n".join(_startup_lines(rng, pod, at - timedelta(seconds=20)))
    elif pod.kind == "FailedScheduling":
        phase = "Pending"
        total = rng.choice((3, 6, 12))
        message = (
            f"0/{total} nodes are available: {total} Insufficient memory. preemption: 0/{total} "
            f"nodes are available: {total} No preemption victims found for incoming pod.",
            f"0/{total} nodes are available: {total} Insufficient cpu. preemption: 0/{total} "
            f"nodes are available: {total} No preemption victims found for incoming pod.",
            f"0/{total} nodes are available: {total} node(s) didn't match Pod's node "
            f"affinity/selector. preemption: 0/{total} nodes are available: {total} "
            "Preemption is not helpful for scheduling.",
            f"0/{total} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for "
            "scheduling.",
        )[pod.variant % 4]
        status = ContainerStatus(name=pod.app, ready=False, restart_count=0, image=pod.image)
        events = [_event("FailedScheduling", message, at, pod.reports * 2)]
        if pod.variant % 4 == 3:
            events.append(
                _event(
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                    at,
                    pod.reports,
                )
            )
        return _finish(pod, phase, pod.kind, message, [], events, None, None, None)
    elif pod.kind == "FailedMount":
        phase = "Pending"
        variant = pod.variant % 3
        message = (
            f'MountVolume.SetUp failed for volume "config" : configmap "{pod.app}-config" not '
            "found",
            f'MountVolume.SetUp failed for volume "tls" : secret "{pod.app}-tls" not found',
            "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes="
            "[data kube-api-access]: timed out waiting for the condition",
        )[variant]
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=0,
            image=pod.image,
            state="waiting",
            reason="ContainerCreating",
        )
        events = [scheduled, _event("FailedMount", message, at, pod.reports * 3)]
        reason = "FailedMount"
    elif pod.kind == "CreateContainerConfigError":
        phase = "Pending"
        message = (
            f'secret "{pod.app}-db" not found',
            f"couldn't find key LOG_FORMAT in ConfigMap {pod.namespace}/{pod.app}-config",
            "container has runAsNonRoot and image will run as root (pod: "
            f'"{pod.name}_{pod.namespace}({pod.uid})", container: {pod.app})',
        )[pod.variant % 3]
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=0,
            image=pod.image,
            state="waiting",
            reason="CreateContainerConfigError",
            message=message,
        )
        events = [scheduled, _event("Failed", f"Error: {message}", at, pod.reports * 2)]
    else:  # init container never finishes
        phase = "Pending"
        code = 1 if pod.variant % 2 == 0 else 127
        init = [
            ContainerStatus(
                name="wait-for-db",
                ready=False,
                restart_count=restarts,
                image="docker.io/library/busybox:1.36",
                state="waiting",
                reason="CrashLoopBackOff",
                message=f"back-off 5m0s restarting failed container=wait-for-db pod={pod.name}",
                last_state="terminated",
                last_reason="Error",
                last_exit_code=code,
            )
        ]
        status = ContainerStatus(
            name=pod.app,
            ready=False,
            restart_count=0,
            image=pod.image,
            state="waiting",
            reason="PodInitializing",
        )
        logs = (
            f"nc: bad address 'postgres.{pod.namespace}'\n" * 8
            if code == 1
            else "sh: /scripts/migrate.sh: not found"
        )
        message = "Back-off restarting failed container wait-for-db"
        events = [scheduled, _event("BackOff", message, at, restarts * 3)]
    return _finish(pod, phase, reason, message, [status], events, init, logs, failure_logs)


def _finish(
    pod: Pod,
    phase: str,
    reason: str,
    message: str | None,
    statuses: list[ContainerStatus],
    events: list[PodEvent],
    init: list[ContainerStatus] | None,
    logs: str | None,
    failure_logs: FailureLogs | None,
) -> tuple[PodFailureReport, bool]:
    report = PodFailureReport(
        pod_name=pod.name,
        namespace=pod.namespace,
        node_name=None if pod.kind == "FailedScheduling" else pod.node,
        phase=phase,
        creation_timestamp=_iso(pod.created),
        failure_reason=reason,
        failure_message=message,
        container_statuses=statuses,
        init_container_statuses=init,
        events=events,
        logs=logs or "",
        manifest=_manifest(pod, pod.kind, phase, statuses),
        failure_logs=failure_logs,
    )
    return report, failure_logs is not None


def _name(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_ALPHANUM) for _ in range(size))


def _new_pod(rng: random.Random, index: int, created: datetime) -> Pod:
    app, lang = _APPS[index % len(_APPS)]
    rs = _name(rng, 10)
    kinds, weights = zip(*KINDS, strict=True)
    return Pod(
        name=f"{app}-{rs}-{_name(rng, 5)}",
        namespace=NAMESPACES[rng.randrange(len(NAMESPACES))],
        app=app,
        lang=lang,
        image=f"{rng.choice(_REGISTRIES)}/{app}:{rng.randint(1, 6)}.{rng.randint(0, 30)}."
        f"{rng.randint(0, 9)}",
        node=rng.choice(_NODES),
        memory=rng.choice(_MEMORY),
        uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        rs=rs,
        rs_uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        kind=rng.choices(kinds, weights)[0],
        variant=rng.randrange(1 << 16),
        created=created,
    )


def generate(reports: int, repeat_share: float = 0.2, seed: int = 11) -> Workload:
    """``reports`` Kure reports, one per collect message; ~``repeat_share`` about earlier pods."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
    pods: list[Pod] = []
    workload = Workload(messages=[], reports=[], distinct=0)
    for index in range(reports):
        at = start + timedelta(seconds=index * 0.5 + rng.random() * 0.5)
        if pods and rng.random() < repeat_share:
            pod = rng.choice(pods)
        else:
            pod = _new_pod(rng, len(pods), at - timedelta(minutes=rng.randint(1, 30)))
            pods.append(pod)
        report, has_logs = _report(rng, pod, at)
        workload.reports.append(report)
        workload.messages.append(msgspec.json.encode(report))
        workload.kinds[pod.kind] += 1
        workload.with_failure_logs += has_logs
    workload.distinct = len(pods)
    return workload
