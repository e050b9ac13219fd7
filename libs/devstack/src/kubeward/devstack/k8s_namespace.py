"""A large realistic Kubernetes namespace as an API server lists it: the factory
``bench.diagram`` and the gateway's diagram tests share.

Deterministic (no seed: the same sizes give the same objects, uids and resource versions).
:func:`build_namespace` makes D Deployments, each with a ReplicaSet (owned by it) and its
share of the P Pods (owned by the ReplicaSet, labelled to match the Deployment's selector,
with a ServiceAccount, ``envFrom``/``env`` references to a ConfigMap and Secrets,
ConfigMap/Secret/projected volumes, a PVC for every fourth Deployment, pull secrets, status
and a ``managedFields`` entry, as a real API server lists them); S Services selecting
Deployments' Pods; a ConfigMap per Deployment; an Ingress per ten Services routing to them.
Every kind of :data:`KINDS` has a list, maybe empty. :func:`seed_emulator` stores them in
kmock's ``KubernetesEmulator``, the empty kinds declared so their lists answer 200 and
``[]``.

Typical use::

    objects = build_namespace("shop", pods=500, deployments=50, services=60)
    objects["Pod"][0]["metadata"]["ownerReferences"][0]["kind"]  # "ReplicaSet"
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import kmock

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """Where the API serves one kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects."""
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = {
    k.kind: k
    for k in (
        Kind("apps", "v1", "deployments", "Deployment"),
        Kind("apps", "v1", "replicasets", "ReplicaSet"),
        Kind("apps", "v1", "statefulsets", "StatefulSet"),
        Kind("apps", "v1", "daemonsets", "DaemonSet"),
        Kind("batch", "v1", "jobs", "Job"),
        Kind("batch", "v1", "cronjobs", "CronJob"),
        Kind("", "v1", "pods", "Pod"),
        Kind("", "v1", "services", "Service"),
        Kind("networking.k8s.io", "v1", "ingresses", "Ingress"),
        Kind("", "v1", "configmaps", "ConfigMap"),
        Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
        Kind("", "v1", "serviceaccounts", "ServiceAccount"),
    )
}
"""The kinds the gateway lists for a namespace graph (its ``NAMESPACE_KINDS``; the gateway's
diagram tests check they agree)."""

CREATED = "2026-01-05T09:30:00Z"
"""``creationTimestamp`` (and every other time) of every object."""
TIERS = ("frontend", "backend", "worker")
"""The ``tier`` labels, in turn per Deployment."""


def _obj(kind: str, name: str, namespace: str, labels: dict[str, str] | None = None) -> Obj:
    """An object's envelope: ``apiVersion``, ``kind`` and the metadata a server adds."""
    uid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}/{namespace}/{name}")
    metadata: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": str(uid),
        "resourceVersion": str(100000 + uid.int % 900000),
        "creationTimestamp": CREATED,
    }
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": KINDS[kind].api_version, "kind": kind, "metadata": metadata}


def _owned(obj: Obj, kind: str, name: str, namespace: str) -> Obj:
    """``obj`` with a controller ``ownerReference`` to ``kind/name``."""
    owner_uid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}/{namespace}/{name}")
    obj["metadata"]["ownerReferences"] = [
        {
            "apiVersion": KINDS[kind].api_version,
            "kind": kind,
            "name": name,
            "uid": str(owner_uid),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return obj


def _pod_spec(index: int, name: str, accounts: int) -> Obj:
    """The pod template of Deployment ``index``: what ``namespace_diagram`` follows, and the
    rest of a typical spec."""
    container: Obj = {
        "name": "app",
        "image": f"registry.example.com/shop/{name}:1.{index % 17}.{index % 5}",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}, {"secretRef": {"name": name}}],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "shared-db", "key": "password"}},
            },
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 20},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app"},
            {"name": "tls", "mountPath": "/etc/tls", "readOnly": True},
            {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/sa"},
        ],
        "imagePullPolicy": "IfNotPresent",
    }
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": f"{name}-config", "defaultMode": 420}},
        {"name": "tls", "secret": {"secretName": f"{name}-tls", "defaultMode": 420}},
        {
            "name": "kube-api-access",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt"}]}},
                ]
            },
        },
    ]
    if index % 4 == 0:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}})
        container["volumeMounts"].append({"name": "data", "mountPath": "/data"})
    containers = [container]
    if index % 3 == 0:
        containers.append(
            {
                "name": "proxy",
                "image": "registry.example.com/infra/envoy:1.31.2",
                "ports": [{"name": "admin", "containerPort": 9901, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            }
        )
    return {
        "serviceAccountName": f"sa-{index % accounts}",
        "containers": containers,
        "volumes": volumes,
        "imagePullSecrets": [{"name": "registry-cred"}],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30,
    }


def _hex(*parts: object) -> str:
    """A stable 32-digit hex string for ``parts``."""
    return uuid.uuid5(uuid.NAMESPACE_OID, "/".join(map(str, parts))).hex


def _pod_status(index: int, pod: int, containers: list[Obj]) -> Obj:
    """A running pod's status."""
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": CREATED}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": f"10.0.0.{1 + index % 6}",
        "podIP": f"10.244.{index % 250}.{1 + pod % 250}",
        "startTime": CREATED,
        "qosClass": "Burstable",
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": f"{c['image']}@sha256:{_hex('image', c['image'])}",
                "containerID": f"containerd://{_hex('container', index, pod, c['name'])}",
                "ready": True,
                "started": True,
                "restartCount": (index + pod) % 3,
                "state": {"running": {"startedAt": CREATED}},
            }
            for c in containers
        ],
    }


MANAGED = [
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": {
            "f:status": {
                "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}}},
                "f:containerStatuses": {},
                "f:hostIP": {},
                "f:phase": {},
                "f:podIP": {},
                "f:startTime": {},
            }
        },
    }
]
"""The ``managedFields`` of every Pod: the kubelet's status update."""


def share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split as evenly as possible into ``parts``."""
    return total // parts + (1 if index < total % parts else 0)


def build_namespace(
    namespace: str, pods: int, deployments: int, services: int
) -> dict[str, list[Obj]]:
    """Every object of the namespace by kind (each of :data:`KINDS`, maybe empty)."""
    objects: dict[str, list[Obj]] = {kind: [] for kind in KINDS}
    accounts = max(1, deployments // 5)
    names = [f"app-{i:03d}" for i in range(deployments)]
    for i, name in enumerate(names):
        labels = {"app": name, "tier": TIERS[i % len(TIERS)], "team": f"team-{i % 7}"}
        replicas = share(pods, deployments, i)
        spec = _pod_spec(i, name, accounts)
        template_hash = uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:10]
        deployment = _obj("Deployment", name, namespace, labels)
        deployment["spec"] = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
            "strategy": {"type": "RollingUpdate"},
        }
        deployment["status"] = {"replicas": replicas, "readyReplicas": replicas}
        objects["Deployment"].append(deployment)
        rs_name = f"{name}-{template_hash}"
        rs_labels = {**labels, "pod-template-hash": template_hash}
        replica_set = _owned(
            _obj("ReplicaSet", rs_name, namespace, rs_labels), "Deployment", name, namespace
        )
        replica_set["spec"] = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name, "pod-template-hash": template_hash}},
            "template": {"metadata": {"labels": rs_labels}, "spec": spec},
        }
        replica_set["status"] = {"replicas": replicas, "readyReplicas": replicas}
        objects["ReplicaSet"].append(replica_set)
        for k in range(replicas):
            pod_name = f"{rs_name}-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{rs_name}/{k}').hex[:5]}"
            pod = _owned(
                _obj("Pod", pod_name, namespace, rs_labels), "ReplicaSet", rs_name, namespace
            )
            pod["metadata"]["generateName"] = f"{rs_name}-"
            pod["metadata"]["managedFields"] = MANAGED
            pod["spec"] = {**spec, "nodeName": f"node-{(i + k) % 6}"}
            pod["status"] = _pod_status(i, k, spec["containers"])
            objects["Pod"].append(pod)
        config = _obj("ConfigMap", f"{name}-config", namespace, {"app": name})
        config["data"] = {"LOG_LEVEL": "info", "FEATURES": "a,b,c", "app.yaml": "port: 8080\n"}
        objects["ConfigMap"].append(config)
        if i % 4 == 0:
            claim = _obj("PersistentVolumeClaim", f"{name}-data", namespace, {"app": name})
            claim["spec"] = {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "standard",
                "resources": {"requests": {"storage": "10Gi"}},
            }
            claim["status"] = {"phase": "Bound"}
            objects["PersistentVolumeClaim"].append(claim)
    root_ca = _obj("ConfigMap", "kube-root-ca.crt", namespace)
    root_ca["data"] = {"ca.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"}
    objects["ConfigMap"].append(root_ca)
    for name in ["default", *(f"sa-{k}" for k in range(accounts))]:
        objects["ServiceAccount"].append(_obj("ServiceAccount", name, namespace))
    service_names = []
    for j in range(services):
        target = j % deployments if services > deployments else j * deployments // services
        name = names[target] + ("" if j < deployments else f"-{j // deployments}")
        service = _obj("Service", name, namespace, {"app": names[target]})
        service["spec"] = {
            "type": "ClusterIP",
            "clusterIP": f"10.96.{j // 250}.{1 + j % 250}",
            "selector": {"app": names[target]},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        }
        objects["Service"].append(service)
        service_names.append(name)
    ingresses = max(1, services // 10) if services else 0
    for k in range(ingresses):
        routed = service_names[k::ingresses][:5]
        ingress = _obj("Ingress", f"web-{k}", namespace)
        ingress["spec"] = {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": f"web-{k}.shop.example",
                    "http": {
                        "paths": [
                            {
                                "path": f"/{svc}",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": svc, "port": {"number": 80}}},
                            }
                            for svc in routed
                        ]
                    },
                }
            ],
        }
        objects["Ingress"].append(ingress)
    return objects


def seed_emulator(
    emulator: kmock.KubernetesEmulator, namespace: str, objects: Mapping[str, Sequence[Obj]]
) -> None:
    """Store ``objects`` (by kind, as :func:`build_namespace` returns them) in ``namespace``
    of ``emulator``, declaring each kind as namespaced so an empty one lists as ``[]``."""
    import kmock  # at run time only: a caller of build_namespace alone does not need it

    for kind, items in objects.items():
        spec = KINDS[kind]
        resource = kmock.resource(spec.group, spec.version, spec.plural)
        emulator.resources[resource] = kmock.ResourceInfo(namespaced=True, kind=kind)
        for obj in items:
            emulator.objects[resource, namespace, obj["metadata"]["name"]] = obj
