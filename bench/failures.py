"""Failure-analysis benchmark: Kure report → ingest → failure-analyzer → MongoDB → feed, end to end.

Run by ``make bench`` (``uv run --no-sync python -m bench.failures [--reports N]`` from the
repository root; ``--help`` lists every option).

It starts its own nats-server (JetStream in a temporary directory) and SecantusDB on free
ports (``BENCH_MONGODB_URL`` points it at a MongoDB of yours instead; NATS is always its
own, because it deletes every stream between runs), then the ``ingest`` and
``failure_analyzer`` services as processes. No LLM is configured, so the solutions are the
offline analyzers' and no diagnosis job is queued (the run checks that none was).

It generates N realistic Kure failed-pod reports of mixed kinds (CrashLoopBackOff with
application logs, some with the agent's gzip+base64 ``failure_logs``, ImagePullBackOff,
OOMKilled, FailedScheduling, FailedMount, CreateContainerConfigError, init containers that
never finish) about many distinct pods; ~``--repeat-share`` of them are repeat reports of a
pod reported before. Each report is one JetStream message on
``kubeward.collect.pod-failures``, as the Kure agent publishes it, sent pipelined with
``publish_async``; every PubAck is checked. A repeat report updates the pod's open record
and, like a first report, publishes a ``pod_failure`` feed event (failure-analyzer's
``ReportHandler`` publishes one for every report that is not a redelivered duplicate), so
the run is timed from the first publish until ``FEED`` holds N events on
``kubeward.feed.pod_failure``; then MongoDB must hold one record per distinct pod and
``sum(report_count) == N``.

The pipeline runs twice, each from a clean state (every stream of the server deleted, so
fresh streams and durables, and a fresh MongoDB database): with ``OFFLINE_DIAGNOSIS=false``
(the bare pipeline: store and announce) and as deployed (offline diagnosis on every
report). In the same run it measures the raw limits: JetStream publish of the same
messages to a scratch stream without consumers, MongoDB ``insert_many`` of one document per
report shaped like failure-analyzer's records, and the offline analyzers alone, in this
process (``diagnose`` + ``render`` on the same reports, CPU only). It prints reports/s for
each, the ratios, and the CPU seconds every process used during each pipeline run; it never
asserts a timing.

Every process it starts is stopped on exit, error, Ctrl-C or SIGTERM (see
:mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import nats
import yaml
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from bench import common
from bench.common import (
    BenchError,
    Document,
    Drain,
    Figure,
    FreshMongo,
    Publisher,
    Stack,
    binary_version,
    cpu_line,
    insert_many_limit,
    last_seq,
    machine_info,
    mongo_client,
    ms_per,
    on_scratch_db,
    own_nats,
    pipeline_parser,
    publish_limit,
    ratio_line,
    redeliveries,
    say,
    service_env,
    stream_messages,
    subject_count,
    version,
)
from kubeward.failure_analyzer.diagnosis import diagnose, render
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodEvent,
    PodFailureReport,
)

SERVICES = ("ingest", "failure_analyzer")
RECORDS = "pod_failures"
"""failure-analyzer's collection: one record per failure of a pod."""
INGEST_DURABLE = f"{bus.CONSUMER_INGEST}-pod-failures"
ANALYZER_DURABLE = f"{bus.CONSUMER_FAILURE_ANALYZER}-reports"
POD_FAILURE_SUBJECT = bus.feed_subject("pod_failure")

MONGO_BATCH = 1000
"""Documents per ``insert_many`` (records are several KB; 16 MB is a MongoDB message)."""
POLL_INTERVAL = 0.2
SETTLE = 10.0
"""Seconds the feed may lag once both services have acked all their input."""

RATIO_PUBLISH = "pipeline / raw JetStream publish"
RATIO_INSERT = "pipeline / raw MongoDB insert_many"
RATIO_ANALYZERS = "pipeline / offline analyzers alone"
RATIO_DIAGNOSIS = "pipeline with diagnosis / without"
RATIO_BARE_INSERT = "pipeline without diagnosis / raw insert_many"
NO_LLM = "no LLM configured: solutions are the offline analyzers' only"


# --- Workload -----------------------------------------------------------------

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
_NAMESPACES = ("shop", "payments", "platform", "data", "edge", "monitoring", "default", "batch")
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
        namespace=_NAMESPACES[rng.randrange(len(_NAMESPACES))],
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


# --- Raw limits ---------------------------------------------------------------


@dataclass
class Analyzers:
    """The offline analyzers alone over the workload, in this process."""

    figure: Figure
    cpu: float
    """CPU seconds this process used for them."""
    solutions: list[str]
    primary: Counter[str]
    """Reports by the analyzer of the primary finding (``(none)`` when nothing matched)."""


def analyzers_alone(workload: Workload) -> Analyzers:
    """``diagnose`` + ``render`` on every report (decoded already), timed wall and CPU."""
    solutions: list[str] = []
    primary: Counter[str] = Counter()
    cpu = time.process_time()
    started = time.perf_counter()
    for report in workload.reports:
        diagnosis = diagnose(report)
        solutions.append(render(report, diagnosis))
        primary[diagnosis.primary.analyzer if diagnosis.primary else "(none)"] += 1
    seconds = time.perf_counter() - started
    figure = Figure(
        "offline analyzers alone (diagnose + render, in-process)",
        len(workload.reports),
        seconds,
        unit="reports",
    )
    return Analyzers(figure, time.process_time() - cpu, solutions, primary)


_REPORT_FIELDS = tuple(f for f in PodFailureReport.__struct_fields__ if f not in ("pod_name",))


def _record(index: int, report: PodFailureReport, solution: str, seen: datetime) -> Document:
    """A document shaped like a failure-analyzer record (written without its indexes)."""
    return {
        "_id": index + 1,
        "open_key": f"{report.namespace}/{report.pod_name}#{index}",
        **{name: msgspec.to_builtins(getattr(report, name)) for name in _REPORT_FIELDS},
        "pod_name": report.pod_name,
        "solution": solution,
        "solution_source": "offline",
        "analyzer": None,
        "llm_error": None,
        "first_seen": seen,
        "last_seen": seen,
        "report_count": 1,
        "report_seq": index + 1,
        "applied": [f"{index + 1}:0"],
        "status": "new",
        "dismissed": False,
        "resolved_at": None,
        "status_changed_at": seen,
    }


def record_docs(workload: Workload, solutions: Sequence[str]) -> list[Document]:
    """One record-shaped document per report, for the raw insert limit."""
    seen = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return [
        _record(i, r, s, seen)
        for i, (r, s) in enumerate(zip(workload.reports, solutions, strict=True))
    ]


async def raw_insert(mongo_url: str, docs: Sequence[Document]) -> tuple[Figure, str]:
    """``insert_many`` of the record-shaped documents, 1k per call, unordered; returns it and
    a description of the MongoDB server."""
    label = f"raw MongoDB insert_many ({MONGO_BATCH // 1000}k/call, unordered, no indexes)"
    return await on_scratch_db(
        mongo_url, lambda col: insert_many_limit(col, docs, MONGO_BATCH, label, "docs")
    )


# --- The pipeline -------------------------------------------------------------


@dataclass
class PipelineRun:
    """One end-to-end run, timings in seconds from the first publish."""

    label: str
    total: float = 0.0
    published: float = 0.0
    drain: Drain = field(
        default_factory=lambda: Drain(
            INGEST_DURABLE, bus.FAILURES.name, ANALYZER_DURABLE, "failure-analyzer"
        )
    )
    """When ingest and failure-analyzer had acked everything; FAILURES batches forwarded."""
    records: int = 0
    report_count: int = 0
    deadletter: int = 0
    diagnose_jobs: int = 0
    analyzers: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process used during the run."""
    redelivered: dict[str, int] = field(default_factory=dict)
    """Redelivered messages still unacked at the end (JetStream forgets acked ones)."""

    def figure(self, reports: int) -> Figure:
        """The run as a rate."""
        return Figure(self.label, reports, self.total, unit="reports")


async def _records(db: AsyncDatabase[Document]) -> tuple[int, int, Counter[str]]:
    """(records, sum of report_count, records by analyzer) in ``pod_failures``."""
    cursor = await db[RECORDS].aggregate(
        [{"$group": {"_id": "$analyzer", "n": {"$sum": 1}, "reports": {"$sum": "$report_count"}}}]
    )
    records = reports = 0
    by_analyzer: Counter[str] = Counter()
    for row in await cursor.to_list():
        records += int(row["n"])
        reports += int(row["reports"])
        by_analyzer[row["_id"] or "(none)"] += int(row["n"])
    return records, reports, by_analyzer


async def pipeline(
    label: str,
    nats_url: str,
    mongo_url: str,
    db_name: str,
    workload: Workload,
    in_flight: int,
    timeout: float,
    cpu: Callable[[], dict[str, float]],
) -> PipelineRun:
    """Publish the workload to COLLECT; wait until FEED holds a ``pod_failure`` per report.

    Every 0.2 s the consumers' states and the feed's subject count are read from JetStream
    (cheap; nothing is read from MongoDB until the end). The run ends at the stream time of
    the last ``pod_failure`` event (the server's clock, same host), not at the poll that
    saw it; CPU seconds are read at that poll.
    """
    run = PipelineRun(label)
    n = len(workload.messages)
    nc: NATS = await nats.connect(nats_url, name="bench-publisher")
    try:
        async with mongo_client(mongo_url) as client:
            js = nc.jetstream(publish_async_max_pending=in_flight)
            before = cpu()
            started_wall = time.time()
            publisher = Publisher(
                js, bus.COLLECT_POD_FAILURES, bus.COLLECT.name, workload.messages, timeout
            )
            async with publisher:
                await _wait(run, js, publisher, n, timeout, started_wall, before, cpu)
            run.published = publisher.published
            await _check(run, js, client[db_name], workload)
            return run
    finally:
        await nc.close()


async def _wait(
    run: PipelineRun,
    js: JetStreamContext,
    publisher: Publisher,
    n: int,
    timeout: float,
    started_wall: float,
    before: dict[str, float],
    cpu: Callable[[], dict[str, float]],
) -> None:
    """Poll until FEED holds ``n`` pod_failure events; fill in the run's timings."""
    started = publisher.started
    deadline = started + timeout
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        publisher.check()  # a failed publish ends the run here
        events = await subject_count(js, bus.FEED.name, POD_FAILURE_SUBJECT)
        now = time.perf_counter() - started
        if events >= n:
            after = cpu()
            run.cpu = {k: after[k] - before[k] for k in after if k in before}
            if events > n:
                raise BenchError(f"{events} pod_failure events for {n} reports")
            # The stream's own time of the last event, not the poll's (same host).
            last = await js.get_last_msg(bus.FEED.name, POD_FAILURE_SUBJECT)
            stamped = last.time.timestamp() - started_wall if last.time else now
            run.total = stamped if 0 < stamped <= now else now
            return
        consumers = await run.drain.poll(js, publisher.last, now)
        run.samples.append(f"t={now:6.1f}s {consumers}  pod_failure events={events}")
        if run.drain.service is not None and now - run.drain.service > SETTLE:
            raise BenchError(
                f"both services acked everything, yet FEED holds {events} pod_failure "
                f"events for {n} reports\n  " + "\n  ".join(run.samples[-8:])
            )
        if time.perf_counter() > deadline:
            raise BenchError(
                f"{events} of {n} pod_failure events within {timeout:.0f}s\n  "
                + "\n  ".join(run.samples[-8:])
            )


async def _check(
    run: PipelineRun, js: JetStreamContext, db: AsyncDatabase[Document], workload: Workload
) -> None:
    """Read the end state (records, dead letters, diagnose jobs, redeliveries) and check it."""
    n = len(workload.messages)
    drain = run.drain
    if drain.service is None:
        drain.service = run.total  # the last feed event comes before the ack
    if drain.ingest is None:
        drain.ingest = run.total
        drain.forwarded = await last_seq(js, bus.FAILURES.name)
    run.records, run.report_count, run.analyzers = await _records(db)
    run.deadletter = await stream_messages(js, bus.DEADLETTER.name)
    run.diagnose_jobs = await subject_count(js, bus.FAILURES.name, bus.FAILURES_DIAGNOSE)
    run.redelivered = await redeliveries(js, drain.durables)
    if run.records != workload.distinct or run.report_count != n:
        raise BenchError(
            f"{n} pod_failure events, yet {RECORDS} holds {run.records} records for "
            f"{workload.distinct} pods and sum(report_count)={run.report_count} for {n} "
            "reports"
        )
    if run.deadletter:
        raise BenchError(f"{run.deadletter} messages went to {bus.DEADLETTER.name}")
    if run.diagnose_jobs:
        raise BenchError(f"{run.diagnose_jobs} LLM diagnose jobs queued without an LLM")


async def reset(nats_url: str, mongo_url: str, db_name: str) -> None:
    """Delete every stream of this run's own NATS server and drop ``db_name``."""
    nc: NATS = await nats.connect(nats_url, name="bench-reset")
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
        async with mongo_client(mongo_url) as client:
            await client.drop_database(db_name)
    finally:
        await nc.close()


# --- Report -------------------------------------------------------------------


def report(
    header: list[str],
    workload: Workload,
    publish: Figure,
    insert: Figure,
    analyzers: Analyzers,
    bare: PipelineRun,
    full: PipelineRun,
) -> str:
    """The table: workload, every figure in reports/s, per-process CPU, the ratios."""
    n = len(workload.reports)
    pct = 100.0 / n
    kinds = ", ".join(f"{kind} {count * pct:.0f} %" for kind, count in workload.kinds.most_common())
    lines = [*header, f"LLM       {NO_LLM} (diagnose jobs queued: {full.diagnose_jobs})", ""]
    lines.append(
        f"workload  N={n} reports, one per message on {bus.COLLECT_POD_FAILURES}, about "
        f"{workload.distinct} distinct pods in {len(_NAMESPACES)} namespaces; "
        f"{workload.repeats} repeat reports ({workload.repeats * pct:.1f} %) update an open "
        "record and publish pod_failure too"
    )
    lines.append(
        f"          mean report {workload.payload_bytes / n / 1024:.1f} KiB; by report: {kinds}; "
        f"{workload.with_failure_logs} carry gzip+base64 failure_logs"
    )
    figures = [publish, insert, analyzers.figure, bare.figure(n), full.figure(n)]
    lines += ["", f"{'measurement':<66}{'reports/s':>11}{'seconds':>9}"]
    lines.append("-" * 86)
    for fig in figures:
        unit = "" if fig.unit == "reports" else f" ({fig.unit}/s)"
        lines.append(f"{fig.label + unit:<66}{fig.rate:>11,.0f}{fig.seconds:>9.2f}")
    for run in (bare, full):
        lines.append(f"  {run.label}:")
        lines.append(
            f"    all {n} PubAcks after {run.published:.2f} s; ingest acked all of COLLECT by "
            f"{run.drain.ingest or 0:.1f} s ({run.drain.forwarded} FAILURES batches); "
            f"failure-analyzer acked all by {run.drain.service or 0:.1f} s"
        )
        lines.append(
            f"    FEED: {n} pod_failure events; {RECORDS}: {run.records} records, "
            f"sum(report_count)={run.report_count}; dead letters {run.deadletter}; "
            "redeliveries unacked " + ", ".join(f"{d} {c}" for d, c in run.redelivered.items())
        )
        lines.append(f"    CPU seconds ({run.total:.1f} s wall): {cpu_line(run.cpu)}")
        fa = run.cpu.get("failure_analyzer", 0.0)
        lines.append(
            f"    CPU per report: failure_analyzer {ms_per(fa, n)}, ingest "
            f"{ms_per(run.cpu.get('ingest', 0.0), n)}, secantusdb "
            f"{ms_per(run.cpu.get('secantusdb', 0.0), n)}"
        )
    extra = full.cpu.get("failure_analyzer", 0.0) - bare.cpu.get("failure_analyzer", 0.0)
    lines.append(
        f"  offline analyzers alone: {ms_per(analyzers.cpu, n)} CPU per report in this "
        f"process; failure-analyzer used {ms_per(extra, n)} more per report with "
        "diagnosis than without"
    )
    top = ", ".join(f"{name} {count}" for name, count in full.analyzers.most_common(8))
    lines.append(f"  records by analyzer (with diagnosis; the last report of each pod): {top}")
    alone = ", ".join(f"{name} {count}" for name, count in analyzers.primary.most_common(8))
    lines.append(f"  reports by primary analyzer (analyzers alone): {alone}")

    lines += ["", "ratios (same run, same machine; reports/s)"]
    full_rate, bare_rate = full.figure(n).rate, bare.figure(n).rate
    raw_note = "raw is {inverse:,.1f}x faster"
    lines.append(ratio_line(RATIO_PUBLISH, full_rate / publish.rate, raw_note))
    lines.append(ratio_line(RATIO_INSERT, full_rate / insert.rate, raw_note))
    lines.append(
        ratio_line(
            RATIO_ANALYZERS,
            full_rate / analyzers.figure.rate,
            "analyzers alone are {inverse:,.1f}x faster",
        )
    )
    lines.append(
        ratio_line(RATIO_DIAGNOSIS, full_rate / bare_rate, "without is {inverse:.2f}x faster")
    )
    lines.append(ratio_line(RATIO_BARE_INSERT, bare_rate / insert.rate, raw_note))
    lines.append(
        f"  (offline analyzers alone: {analyzers.figure.rate:,.0f} reports/s on one core; "
        "'pipeline' is the deployed setup, with diagnosis)"
    )
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = pipeline_parser(__doc__, "reports", 5000, "reports", in_flight=1000, seed=11)
    parser.add_argument(
        "--repeat-share", type=float, default=0.2, help="share of reports about a pod seen before"
    )
    args = parser.parse_args(argv)
    if args.reports < 1 or args.in_flight < 1:
        parser.error("--reports and --in-flight must be positive")
    if not 0 <= args.repeat_share < 1:
        parser.error("--repeat-share must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start what is needed, measure, print the table, stop everything."""
    args = parse_args(argv)
    timeout = args.timeout or 60.0 + args.reports / 20
    given_mongo = os.environ.get("BENCH_MONGODB_URL", "")
    say(f"generating {args.reports} reports ...")
    workload = generate(args.reports, args.repeat_share, args.seed)
    say("offline analyzers alone (in this process) ...")
    analyzers = analyzers_alone(workload)

    def body(stack: Stack) -> str:
        nats_url = own_nats(stack)
        fresh_mongo = FreshMongo(stack, given_mongo, disk=args.mongo_disk)
        say("raw JetStream publish and MongoDB insert_many ...")
        publish = asyncio.run(
            publish_limit(
                nats_url,
                args.in_flight,
                workload.messages,
                timeout,
                "raw JetStream publish (publish_async, no consumer)",
                "reports",
            )
        )
        insert, mongo_desc = asyncio.run(
            raw_insert(fresh_mongo(), record_docs(workload, analyzers.solutions))
        )
        runs: list[PipelineRun] = []
        settings_secret = "bench-settings-" + uuid.uuid4().hex
        for diagnosis in (False, True):
            label = (
                "pipeline with offline diagnosis (as deployed)"
                if diagnosis
                else "pipeline without diagnosis (OFFLINE_DIAGNOSIS=false)"
            )
            db_name = f"kw_bench_{uuid.uuid4().hex[:10]}"
            mongo_url = fresh_mongo()
            env = service_env(
                nats_url,
                mongo_url,
                db_name,
                SETTINGS_SECRET=settings_secret,
                OFFLINE_DIAGNOSIS="true" if diagnosis else "false",
            )
            stack.start_services(env, SERVICES)
            say(f"{label}: services up (logs in {stack.logs}) ...")
            runs.append(
                asyncio.run(
                    pipeline(
                        label,
                        nats_url,
                        mongo_url,
                        db_name,
                        workload,
                        args.in_flight,
                        timeout,
                        stack.cpu,
                    )
                )
            )
            stack.stop_services()
            asyncio.run(reset(nats_url, mongo_url, db_name))  # the next run starts clean
        header = machine_info(
            f"nats-server {binary_version('nats-server')}, nats-py {version('nats-py')}, "
            f"pymongo {version('pymongo')}, msgspec {version('msgspec')}, "
            f"PyYAML {version('pyyaml')}; MongoDB: {fresh_mongo.kind}, {mongo_desc}"
        )
        return report(header, workload, publish, insert, analyzers, runs[0], runs[1])

    return common.run(
        "kubeward-bench-fail-", body, me="bench (publisher)", scratch=("jetstream", "mongo")
    )


if __name__ == "__main__":
    sys.exit(main())
