"""Realistic Kubernetes workloads for the security scanner, generated from a seed: the factory
``bench.security`` and tests share.

Each workload is one collect message (a JSON array of its objects): a Deployment,
StatefulSet, DaemonSet, Job, CronJob or bare Pod with its Service, Ingress, ServiceAccount
and RBAC as a real chart would ship them, the first workload of a namespace with its
Namespace (Pod Security labels or not) and maybe a default-deny NetworkPolicy. Profiles:
hardened (30 %), typical (45 %) and risky (25 %: privileged, host paths, ``latest`` tags,
wildcard RBAC ...). A quarter is sent as the Python client's ``to_dict()`` (snake_case
keys).

Typical use::

    workload = generate(1000, seed=7)
    workload.messages[0]  # one collect message
    workload.yaml_texts[0]  # the same objects as multi-document YAML
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

Obj = dict[str, Any]

_APPS = (
    "checkout",
    "cart",
    "catalog",
    "payments",
    "auth",
    "search",
    "orders",
    "shipping",
    "recommend",
    "email",
    "frontend",
    "inventory",
    "reviews",
    "pricing",
    "ledger",
    "notifier",
    "reports",
    "ingester",
    "gateway",
    "profile",
    "media",
    "billing",
    "audit",
    "export",
)
_NAMESPACES = (
    "shop",
    "payments",
    "platform",
    "data",
    "edge",
    "monitoring",
    "batch",
    "ml",
    "search",
    "auth",
    "media",
    "analytics",
    "ci",
    "logging",
    "team-a",
    "team-b",
    "team-c",
    "staging",
    "default",
    "kube-system",
)
_SYSTEM = frozenset({"kube-system"})
_ORG_REGISTRIES = (
    "ghcr.io/acme",
    "registry.acme.internal/apps",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme",
    "quay.io/acme",
)
_TRUSTED_IMAGES = (
    "cgr.dev/chainguard/nginx@sha256:{digest}",
    "gcr.io/distroless/static-debian12:nonroot",
    "registry.k8s.io/ingress-nginx/controller:v1.11.2",
    "docker.io/library/redis:7.2.5",
    "mcr.microsoft.com/dotnet/aspnet:8.0.8",
    "postgres:16.4",
)
_RISKY_IMAGES = (
    "nginx",
    "{app}:latest",
    "randomdev/{app}-tools:latest",
    "docker.io/bitnami/kubectl:latest",
    "quay.io/someuser/{app}:1.0",
    "ghcr.io/acme/{app}:latest",
    "busybox",
)
_SIDECARS = (
    "docker.io/envoyproxy/envoy:v1.31.0",
    "fluent/fluent-bit:3.1.4",
    "ghcr.io/acme/oauth-proxy:7.6.0",
)
_HOST_PATHS = ("/var/run/docker.sock", "/var/log", "/", "/etc", "/data/cache", "/proc")
_CAPS = ("SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "NET_BIND_SERVICE")
_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"

KINDS: tuple[tuple[str, float], ...] = (
    ("Deployment", 0.45),
    ("StatefulSet", 0.12),
    ("DaemonSet", 0.08),
    ("Job", 0.08),
    ("CronJob", 0.10),
    ("Pod", 0.17),
)
PROFILES: tuple[tuple[str, float], ...] = (("hardened", 0.30), ("typical", 0.45), ("risky", 0.25))
SNAKE_SHARE = 0.25
"""Workloads sent as the Python client's ``to_dict()`` (snake_case keys)."""


@dataclass
class Workload:
    """The generated workloads: objects as sent, collect messages, YAML texts, statistics."""

    objects: list[list[Obj]] = field(default_factory=list)
    """Each workload's objects (its message), as sent."""
    messages: list[bytes] = field(default_factory=list)
    yaml_texts: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    """Objects by kind."""
    workload_kinds: Counter[str] = field(default_factory=Counter)
    profiles: Counter[str] = field(default_factory=Counter)
    snake: int = 0

    @property
    def flat(self) -> list[Obj]:
        """Every object, in message order."""
        return [obj for objs in self.objects for obj in objs]

    @property
    def object_count(self) -> int:
        """Objects in all messages together."""
        return sum(len(objs) for objs in self.objects)

    @property
    def payload_bytes(self) -> int:
        """Bytes of every collect message together."""
        return sum(len(m) for m in self.messages)


def _name(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_ALPHANUM) for _ in range(size))


def _semver(rng: random.Random) -> str:
    return f"{rng.randint(1, 6)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"


def _image(rng: random.Random, profile: str, app: str) -> str:
    if profile == "hardened" and rng.random() < 0.5:
        digest = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        return rng.choice(_TRUSTED_IMAGES).format(digest=digest)
    if profile == "risky" and rng.random() < 0.6:
        return rng.choice(_RISKY_IMAGES).format(app=app)
    return f"{rng.choice(_ORG_REGISTRIES)}/{app}:{_semver(rng)}"


def _resources(rng: random.Random, profile: str) -> Obj | None:
    cpu, memory = rng.choice((("100m", "128Mi"), ("250m", "256Mi"), ("500m", "512Mi")))
    limit_memory = memory.replace("Mi", "") + "Mi"
    if profile == "hardened":
        return {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": "1", "memory": limit_memory},
        }
    if profile == "risky" and rng.random() < 0.6:
        return None
    resources: Obj = {"requests": {"cpu": cpu, "memory": memory}}
    roll = rng.random()
    if roll < 0.5:
        resources["limits"] = {"memory": limit_memory}
    elif roll < 0.75:
        resources["limits"] = {"cpu": "1", "memory": limit_memory}
    return resources


def _probes(container: Obj, port: int) -> None:
    container["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": port},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
    }
    container["readinessProbe"] = {
        "httpGet": {"path": "/ready", "port": port},
        "periodSeconds": 5,
    }


def _container(rng: random.Random, profile: str, app: str, server: bool) -> Obj:
    """The main container of a workload."""
    port = 8080
    container: Obj = {
        "name": app,
        "image": _image(rng, profile, app),
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "url"}},
            },
        ],
    }
    if server:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    resources = _resources(rng, profile)
    if resources is not None:
        container["resources"] = resources
    if profile == "hardened":
        container["imagePullPolicy"] = "IfNotPresent"
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
        }
        if server:
            _probes(container, port)
        return container
    if profile == "typical":
        if rng.random() < 0.5:
            container["securityContext"] = {"allowPrivilegeEscalation": False}
            if rng.random() < 0.5:
                container["securityContext"]["capabilities"] = {"drop": ["ALL"]}
        if server and rng.random() < 0.7:
            _probes(container, port)
        if rng.random() < 0.08:
            container["env"].append({"name": "API_TOKEN", "value": _name(rng, 24)})
        return container
    # risky: one to three of the usual problems
    security: Obj = {}
    for problem in rng.sample(
        ("privileged", "root", "caps", "escalate", "secret", "host-port", "unconfined"),
        rng.randint(1, 3),
    ):
        if problem == "privileged":
            security["privileged"] = True
        elif problem == "root":
            security["runAsUser"] = 0
        elif problem == "caps":
            security["capabilities"] = {"add": rng.sample(_CAPS, rng.randint(1, 2))}
        elif problem == "escalate":
            security["allowPrivilegeEscalation"] = True
        elif problem == "secret":
            container["env"].append({"name": "DB_PASSWORD", "value": "s3cr3t-" + _name(rng, 8)})
        elif problem == "host-port" and server:
            container["ports"][0]["hostPort"] = port
        elif problem == "unconfined":
            security["seccompProfile"] = {"type": "Unconfined"}
    if security:
        container["securityContext"] = security
    if server and rng.random() < 0.3:
        _probes(container, port)
    return container


def _pod_spec(
    rng: random.Random, profile: str, app: str, kind: str, service_account: str | None
) -> Obj:
    server = kind in ("Deployment", "StatefulSet", "DaemonSet") or (
        kind == "Pod" and rng.random() < 0.5
    )
    containers = [_container(rng, profile, app, server)]
    if server and rng.random() < 0.15:
        sidecar: Obj = {"name": "proxy", "image": rng.choice(_SIDECARS)}
        if profile != "risky":
            sidecar["resources"] = {"requests": {"cpu": "50m", "memory": "64Mi"}}
        containers.append(sidecar)
    spec: Obj = {"containers": containers}
    if rng.random() < 0.2:
        spec["initContainers"] = [
            {
                "name": "wait-for-db",
                "image": "docker.io/library/busybox:1.36",
                "command": ["sh", "-c", "until nc -z postgres 5432; do sleep 2; done"],
            }
        ]
    if kind in ("Job", "CronJob"):
        spec["restartPolicy"] = rng.choice(("Never", "OnFailure"))
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    if profile == "hardened":
        spec["automountServiceAccountToken"] = False
        spec["securityContext"] = {
            "runAsNonRoot": True,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
            "appArmorProfile": {"type": "RuntimeDefault"},
        }
    elif profile == "typical" and rng.random() < 0.4:
        spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    elif profile == "risky":
        roll = rng.random()
        if roll < 0.35 or kind == "DaemonSet":
            path = rng.choice(_HOST_PATHS)
            spec["volumes"] = [{"name": "host", "hostPath": {"path": path}}]
            containers[0]["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]
        if 0.35 <= roll < 0.5 or (kind == "DaemonSet" and roll < 0.5):
            spec["hostNetwork"] = True
            spec["hostPID"] = rng.random() < 0.5
    return spec


def _meta(name: str, namespace: str | None, app: str) -> Obj:
    meta: Obj = {"name": name, "labels": {"app.kubernetes.io/name": app, "team": "acme"}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _workload_object(
    rng: random.Random, kind: str, profile: str, name: str, ns: str, app: str, sa: str | None
) -> Obj:
    spec = _pod_spec(rng, profile, app, kind, sa)
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name}
    template = {"metadata": {"labels": labels}, "spec": spec}
    obj: Obj = {
        "apiVersion": "v1" if kind == "Pod" else "batch/v1" if kind.endswith("Job") else "apps/v1",
        "kind": kind,
        "metadata": _meta(name, ns, app),
    }
    if kind == "Pod":
        obj["spec"] = spec
    elif kind == "Job":
        obj["spec"] = {"backoffLimit": 3, "template": template}
    elif kind == "CronJob":
        obj["spec"] = {
            "schedule": f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}},
        }
    else:
        body: Obj = {"selector": {"matchLabels": labels}, "template": template}
        if kind != "DaemonSet":
            body["replicas"] = 3 if profile == "hardened" else rng.choice((1, 1, 2, 3))
        if kind == "StatefulSet":
            body["serviceName"] = name
            body["volumeClaimTemplates"] = [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ]
        obj["spec"] = body
    return obj


def _service(rng: random.Random, kind: str, name: str, ns: str, app: str) -> Obj:
    spec: Obj = {
        "selector": {"app.kubernetes.io/instance": name},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    annotations: dict[str, str] = {}
    if kind == "StatefulSet":
        spec["clusterIP"] = "None"
    else:
        roll = rng.random()
        if roll < 0.10:
            spec["type"] = "NodePort"
        elif roll < 0.23:
            spec["type"] = "LoadBalancer"
            if rng.random() < 0.5:
                spec["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
            elif rng.random() < 0.5:
                annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
        elif roll < 0.25:
            spec["externalIPs"] = [f"203.0.113.{rng.randint(1, 254)}"]
    obj: Obj = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, app)}
    if annotations:
        obj["metadata"]["annotations"] = annotations
    obj["spec"] = spec
    return obj


def _ingress(rng: random.Random, name: str, ns: str, app: str) -> Obj:
    roll = rng.random()
    host = f"{name}.acme.example"
    if roll < 0.08:
        host = "*.acme.example"
    rule: Obj = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": name, "port": {"number": 80}}},
                }
            ]
        }
    }
    if roll >= 0.04:
        rule["host"] = host
    spec: Obj = {"ingressClassName": "nginx", "rules": [rule]}
    if rng.random() < 0.6:
        spec["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
    elif rng.random() < 0.25:
        spec["tls"] = [{"hosts": [f"www.{name}.acme.example"], "secretName": f"{name}-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(name, ns, app),
        "spec": spec,
    }


_SAFE_RULES = (
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["get", "list"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "update"]},
)
_RISKY_RULES = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
)
_NODE_RULES = (
    {"apiGroups": [""], "resources": ["nodes", "pods", "namespaces"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["nodes/proxy", "nodes/metrics"], "verbs": ["get"]},
)


def _rbac(rng: random.Random, profile: str, name: str, ns: str, app: str, sa: str) -> list[Obj]:
    """A Role and its RoleBinding for the workload's service account."""
    rules = [dict(r) for r in rng.sample(_SAFE_RULES, rng.randint(1, 2))]
    if profile == "risky" or rng.random() < 0.1:
        rules += [dict(r) for r in rng.sample(_RISKY_RULES, rng.randint(1, 2))]
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(name, ns, app),
        "rules": rules,
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, ns, app),
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    }
    return [role, binding]


def _cluster_rbac(rng: random.Random, profile: str, name: str, ns: str, sa: str) -> list[Obj]:
    """A ClusterRole and its ClusterRoleBinding (node agents, operators)."""
    cluster_name = f"{ns}:{name}"
    rules = [dict(r) for r in _NODE_RULES]
    if profile == "risky":
        rules.append(dict(rng.choice(_RISKY_RULES)))
    role_ref = cluster_name
    subjects: list[Obj] = [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]
    if profile == "risky" and rng.random() < 0.3:
        role_ref = "cluster-admin"
    if rng.random() < 0.03:
        group = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group"}
        subjects.append(group | {"name": "system:authenticated"})
    objects: list[Obj] = []
    if role_ref == cluster_name:
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": cluster_name},
                "rules": rules,
            }
        )
    objects.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_name},
            "subjects": subjects,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role_ref,
            },
        }
    )
    return objects


def _namespace(rng: random.Random, ns: str) -> list[Obj]:
    """The Namespace, with Pod Security labels or not, and maybe a default-deny policy."""
    labels = {"kubernetes.io/metadata.name": ns}
    roll = rng.random()
    level = "restricted" if roll < 0.3 else "baseline" if roll < 0.6 else "privileged"
    if roll < 0.85:
        labels["pod-security.kubernetes.io/enforce"] = level
    objects: list[Obj] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
    ]
    if rng.random() < 0.5:
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": ns},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        )
    return objects


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SNAKE_SPECIAL = {
    "externalIPs": "external_i_ps",
    "clusterIPs": "cluster_i_ps",
    "nonResourceURLs": "non_resource_ur_ls",
}
_OPAQUE = frozenset(
    {"labels", "annotations", "matchLabels", "nodeSelector", "data", "limits", "requests"}
)


def to_python_client(value: Any, opaque: bool = False) -> Any:
    """``value`` as the Python client's ``to_dict()`` names its keys (snake_case); label,
    annotation and other user-chosen keys are kept."""
    if isinstance(value, list):
        return [to_python_client(item) for item in value]
    if not isinstance(value, dict):
        return value
    if opaque:
        return dict(value)
    out: Obj = {}
    for key, item in value.items():
        snake = _SNAKE_SPECIAL.get(key) or _CAMEL.sub("_", key).lower()
        keep = key in _OPAQUE or (
            key == "selector"
            and isinstance(item, dict)
            and not {"matchLabels", "matchExpressions"} & item.keys()
        )
        out[snake] = to_python_client(item, keep)
    return out


_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def generate(workloads: int, seed: int = 7) -> Workload:
    """``workloads`` workloads, each one collect message (a JSON array of its objects)."""
    rng = random.Random(seed)
    kinds, kind_weights = zip(*KINDS, strict=True)
    profiles, profile_weights = zip(*PROFILES, strict=True)
    out = Workload()
    names: set[tuple[str, str]] = set()
    namespaces_sent: set[str] = set()
    for index in range(workloads):
        kind = rng.choices(kinds, kind_weights)[0]
        profile = rng.choices(profiles, profile_weights)[0]
        ns = rng.choice(_NAMESPACES)
        if kind == "DaemonSet":
            ns = rng.choice(("monitoring", "logging", "kube-system", "platform"))
        app = _APPS[index % len(_APPS)]
        name = f"{app}-{_name(rng, 5)}"
        while (ns, name) in names:
            name = f"{app}-{_name(rng, 5)}"
        names.add((ns, name))
        custom_sa = profile == "hardened" or kind == "DaemonSet" or rng.random() < 0.4
        sa = name if custom_sa else None
        objects: list[Obj] = []
        if ns not in namespaces_sent and ns not in _SYSTEM:
            namespaces_sent.add(ns)
            objects += _namespace(rng, ns)
        objects.append(_workload_object(rng, kind, profile, name, ns, app, sa))
        if kind in ("Deployment", "StatefulSet") and rng.random() < 0.7:
            objects.append(_service(rng, kind, name, ns, app))
            if kind == "Deployment" and rng.random() < 0.35:
                objects.append(_ingress(rng, name, ns, app))
        if sa is not None:
            objects.append(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, ns, app)}
            )
            if kind == "DaemonSet" or (kind == "Deployment" and rng.random() < 0.1):
                objects += _cluster_rbac(rng, profile, name, ns, sa)
            elif rng.random() < 0.4:
                objects += _rbac(rng, profile, name, ns, app, sa)
        if rng.random() < SNAKE_SHARE:
            objects = [to_python_client(obj) for obj in objects]
            out.snake += 1
        out.objects.append(objects)
        out.messages.append(msgspec.json.encode(objects))
        out.yaml_texts.append(
            yaml.dump_all(objects, Dumper=_YAML_DUMPER, default_flow_style=False, sort_keys=False)
        )
        out.workload_kinds[kind] += 1
        out.profiles[profile] += 1
        for obj in objects:
            out.kinds[str(obj["kind"])] += 1
    return out
