"""Cluster views (``/api/diagram/*``) against kmock's Kubernetes emulator, over HTTP.

The gateway runs for real (uvicorn on a free port, real NATS/MongoDB/Redis); its official
``kubernetes`` client talks HTTP to kmock through a kubeconfig (``kube_gateway``). Nothing
of the client is mocked. kmock stores and serves objects as given: no label-selector
filtering, no controllers, no status, no aggregation of ClusterRoles. The gateway lists
whole namespaces and does all matching itself, so what is proven here is the gateway's
graph building, RBAC evaluation, error mapping and caching over the real client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import kmock
import pytest
import yaml

from kubeward.core.service import serving
from kubeward.devstack.k8s_namespace import KINDS as GENERATED_KINDS
from kubeward.devstack.k8s_namespace import build_namespace, seed_emulator
from kubeward.gateway.diagram import LAST_APPLIED, sanitise
from kubeward.gateway.diagram_graph import NAMESPACE_KINDS, namespace_diagram, selector_matches
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings as StoreSettings

ADMIN = {"username": "root", "password": "correct horse battery"}
TOKEN = "svc-token"  # as in conftest.py
NS = "shop"

KubeGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

NAMESPACES = kmock.resource("", "v1", "namespaces")
PODS = kmock.resource("", "v1", "pods")
SERVICES = kmock.resource("", "v1", "services")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
SECRETS = kmock.resource("", "v1", "secrets")
PVCS = kmock.resource("", "v1", "persistentvolumeclaims")
ACCOUNTS = kmock.resource("", "v1", "serviceaccounts")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
REPLICASETS = kmock.resource("apps", "v1", "replicasets")
STATEFULSETS = kmock.resource("apps", "v1", "statefulsets")
JOBS = kmock.resource("batch", "v1", "jobs")
CRONJOBS = kmock.resource("batch", "v1", "cronjobs")
INGRESSES = kmock.resource("networking.k8s.io", "v1", "ingresses")
RBAC = "rbac.authorization.k8s.io"
ROLES = kmock.resource(RBAC, "v1", "roles")
ROLEBINDINGS = kmock.resource(RBAC, "v1", "rolebindings")
CLUSTERROLES = kmock.resource(RBAC, "v1", "clusterroles")
CLUSTERROLEBINDINGS = kmock.resource(RBAC, "v1", "clusterrolebindings")

KINDS = {
    NAMESPACES: ("v1", "Namespace"),
    PODS: ("v1", "Pod"),
    SERVICES: ("v1", "Service"),
    CONFIGMAPS: ("v1", "ConfigMap"),
    SECRETS: ("v1", "Secret"),
    PVCS: ("v1", "PersistentVolumeClaim"),
    ACCOUNTS: ("v1", "ServiceAccount"),
    DEPLOYMENTS: ("apps/v1", "Deployment"),
    REPLICASETS: ("apps/v1", "ReplicaSet"),
    STATEFULSETS: ("apps/v1", "StatefulSet"),
    JOBS: ("batch/v1", "Job"),
    CRONJOBS: ("batch/v1", "CronJob"),
    INGRESSES: ("networking.k8s.io/v1", "Ingress"),
    ROLES: (f"{RBAC}/v1", "Role"),
    ROLEBINDINGS: (f"{RBAC}/v1", "RoleBinding"),
    CLUSTERROLES: (f"{RBAC}/v1", "ClusterRole"),
    CLUSTERROLEBINDINGS: (f"{RBAC}/v1", "ClusterRoleBinding"),
}


def put(
    k: kmock.KubernetesEmulator,
    resource: kmock.resource,
    name: str,
    namespace: str | None = NS,
    *,
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
    **body: Any,
) -> None:
    """Store one object as the API server would serve it."""
    api_version, kind = KINDS[resource]
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{kind}-{name}"}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1" if owner[0] in ("Job", "CronJob") else "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[0]}-{owner[1]}",
                "controller": True,
            }
        ]
    k.objects[resource, namespace, name] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        **body,
    }


WEB = {"app": "web", "tier": "frontend"}
WEB_POD_SPEC = {
    "serviceAccountName": "web-sa",
    "containers": [
        {
            "name": "app",
            "image": "nginx",
            "envFrom": [{"secretRef": {"name": "web-env"}}],
            "env": [
                {
                    "name": "MODE",
                    "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "mode"}},
                }
            ],
        }
    ],
    "volumes": [
        {"name": "config", "configMap": {"name": "web-config"}},
        {"name": "tls", "secret": {"secretName": "web-tls"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
    ],
}


def seed(k: kmock.KubernetesEmulator) -> None:
    """A small realistic cluster: namespaces ``shop`` and ``ops``."""
    for ns in ("shop", "ops", "kube-system"):
        put(k, NAMESPACES, ns, None)
    put(
        k,
        DEPLOYMENTS,
        "web",
        labels={"app": "web"},
        spec={
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}],
            },
            "template": {"metadata": {"labels": WEB}, "spec": WEB_POD_SPEC},
        },
        status={"readyReplicas": 2},
    )
    put(
        k,
        REPLICASETS,
        "web-7d9f",
        labels={**WEB, "pod-template-hash": "7d9f"},
        owner=("Deployment", "web"),
        spec={"selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9f"}}},
    )
    for pod in ("web-7d9f-a", "web-7d9f-b"):
        put(
            k,
            PODS,
            pod,
            labels={**WEB, "pod-template-hash": "7d9f"},
            owner=("ReplicaSet", "web-7d9f"),
            spec=WEB_POD_SPEC,
            status={"phase": "Running"},
        )
    # Orphans: "stray" matches the Deployment's selector (matchExpressions tier In frontend),
    # "canary" matches only the Service's (tier=backend).
    put(k, PODS, "stray", labels=WEB, spec={"containers": [{"name": "c", "image": "x"}]})
    put(
        k,
        PODS,
        "canary",
        labels={"app": "web", "tier": "backend"},
        spec={"containers": [{"name": "c", "image": "x"}]},
    )
    put(k, SERVICES, "web", spec={"selector": {"app": "web"}, "ports": [{"port": 80}]})
    put(k, SERVICES, "external-db", spec={"type": "ExternalName", "externalName": "db.example"})
    put(
        k,
        INGRESSES,
        "web",
        spec={
            "rules": [
                {
                    "host": "shop.example",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    )
    put(k, CONFIGMAPS, "web-config", data={"mode": "prod"})
    put(k, SECRETS, "web-tls", type="kubernetes.io/tls", data={"tls.key": "c2VjcmV0"})
    put(k, PVCS, "web-data", spec={"resources": {"requests": {"storage": "1Gi"}}})
    put(k, ACCOUNTS, "web-sa")
    put(k, ACCOUNTS, "default")
    # A StatefulSet with its pod and claim.
    put(k, STATEFULSETS, "db", spec={"selector": {"matchLabels": {"app": "db"}}})
    put(
        k,
        PODS,
        "db-0",
        labels={"app": "db"},
        owner=("StatefulSet", "db"),
        spec={
            "containers": [{"name": "pg", "image": "postgres"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}],
        },
    )
    put(k, PVCS, "data-db-0")
    # A Job, and a CronJob with its Job and Pod.
    put(k, JOBS, "migrate", spec={"selector": {"matchLabels": {"job-name": "migrate"}}})
    put(k, PODS, "migrate-x1", labels={"job-name": "migrate"}, owner=("Job", "migrate"))
    put(k, CRONJOBS, "nightly", spec={"schedule": "0 3 * * *"})
    put(k, JOBS, "nightly-29001", owner=("CronJob", "nightly"))
    put(k, PODS, "nightly-29001-q", owner=("Job", "nightly-29001"))
    # An object of another namespace must not leak into shop's graph.
    put(k, PODS, "ops-tool", "ops", labels={"app": "web"})
    seed_rbac(k)


def seed_rbac(k: kmock.KubernetesEmulator) -> None:
    put(
        k,
        ROLES,
        "pod-reader",
        rules=[
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "verbs": ["get"],
                "resourceNames": ["web"],
            },
        ],
    )
    put(
        k,
        ROLEBINDINGS,
        "read-pods",
        roleRef={"apiGroup": RBAC, "kind": "Role", "name": "pod-reader"},
        subjects=[
            {"kind": "User", "name": "alice", "apiGroup": RBAC},
            {"kind": "Group", "name": "devs", "apiGroup": RBAC},
            {"kind": "ServiceAccount", "name": "web-sa", "namespace": NS},
        ],
    )
    put(
        k,
        CLUSTERROLES,
        "cluster-admin",
        None,
        rules=[
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    )
    put(
        k,
        CLUSTERROLEBINDINGS,
        "cluster-admin",
        None,
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
        subjects=[{"kind": "Group", "name": "system:masters", "apiGroup": RBAC}],
    )
    put(
        k,
        CLUSTERROLES,
        "deployer",
        None,
        rules=[
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "update"]},
            {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]},
        ],
    )
    put(
        k,
        ROLEBINDINGS,
        "deployers",
        "ops",
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "deployer"},
        subjects=[{"kind": "User", "name": "bob", "apiGroup": RBAC}],
    )
    # Aggregated: the controller fills its rules; kmock has them as stored.
    put(
        k,
        CLUSTERROLES,
        "view-extra",
        None,
        aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"agg": "view"}}]},
        rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]}],
    )
    put(
        k,
        CLUSTERROLEBINDINGS,
        "viewers",
        None,
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "view-extra"},
        subjects=[{"kind": "ServiceAccount", "name": "monitor", "namespace": "ops"}],
    )


@pytest.fixture
async def kube_admin(
    kube_gateway: KubeGateway, kmock: kmock.KubernetesEmulator
) -> AsyncIterator[httpx.AsyncClient]:
    """The initial admin, logged in to a gateway whose cluster is a seeded kmock."""
    seed(kmock)
    async with kube_gateway(diagram_cache_seconds=0) as client:
        resp = await client.post("/api/auth/signup", json=ADMIN)
        assert resp.status_code == 201
        yield client


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in items}


def edges(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["kind"], e["source"], e["target"]) for e in body["edges"]}


def p(name: str) -> str:
    return f"Pod/{NS}/{name}"


async def test_namespaces_sorted(kube_admin: httpx.AsyncClient) -> None:
    # kmock needs conftest's ``kmock_parses_namespace_list`` to serve this path at all.
    resp = await kube_admin.get("/api/diagram/namespaces")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"namespaces": ["kube-system", "ops", "shop"]}


async def test_namespace_graph(
    kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator
) -> None:
    resp = await kube_admin.get(f"/api/diagram/namespace/{NS}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert ids(body["nodes"]) == {
        f"Deployment/{NS}/web",
        f"ReplicaSet/{NS}/web-7d9f",
        p("web-7d9f-a"),
        p("web-7d9f-b"),
        p("stray"),
        p("canary"),
        p("db-0"),
        p("migrate-x1"),
        p("nightly-29001-q"),
        f"StatefulSet/{NS}/db",
        f"Job/{NS}/migrate",
        f"Job/{NS}/nightly-29001",
        f"CronJob/{NS}/nightly",
        f"Service/{NS}/web",
        f"Service/{NS}/external-db",
        f"Ingress/{NS}/web",
        f"ConfigMap/{NS}/web-config",
        f"Secret/{NS}/web-tls",
        f"Secret/{NS}/web-env",
        f"PersistentVolumeClaim/{NS}/web-data",
        f"PersistentVolumeClaim/{NS}/data-db-0",
        f"ServiceAccount/{NS}/web-sa",
        f"ServiceAccount/{NS}/default",
    }
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes[f"Deployment/{NS}/web"]["kind"] == "Deployment"
    assert nodes[f"Deployment/{NS}/web"]["name"] == "web"
    assert nodes[f"Deployment/{NS}/web"]["namespace"] == NS
    assert nodes[f"Deployment/{NS}/web"]["metadata"]["replicas"] == 2
    # Secrets: name only (from the references), nothing of their data.
    assert nodes[f"Secret/{NS}/web-tls"]["metadata"] == {"referenced_only": True}
    assert "c2VjcmV0" not in resp.text
    assert not [r for r in kmock if r.resource == SECRETS]

    got = edges(body)
    web_pods = [p("web-7d9f-a"), p("web-7d9f-b")]
    expected = {
        ("owns", f"Deployment/{NS}/web", f"ReplicaSet/{NS}/web-7d9f"),
        *(("owns", f"ReplicaSet/{NS}/web-7d9f", pod) for pod in web_pods),
        ("owns", f"StatefulSet/{NS}/db", p("db-0")),
        ("owns", f"Job/{NS}/migrate", p("migrate-x1")),
        ("owns", f"CronJob/{NS}/nightly", f"Job/{NS}/nightly-29001"),
        ("owns", f"Job/{NS}/nightly-29001", p("nightly-29001-q")),
        *(("selects", f"Service/{NS}/web", pod) for pod in [*web_pods, "stray", "canary"]),
        ("selects", f"Deployment/{NS}/web", p("stray")),
        ("routes", f"Ingress/{NS}/web", f"Service/{NS}/web"),
        ("mounts", p("db-0"), f"PersistentVolumeClaim/{NS}/data-db-0"),
    }
    expected = {(k, s, t if "/" in t else p(t)) for k, s, t in expected}
    for pod in web_pods:
        expected |= {
            ("mounts", pod, f"ConfigMap/{NS}/web-config"),
            ("mounts", pod, f"Secret/{NS}/web-tls"),
            ("mounts", pod, f"Secret/{NS}/web-env"),
            ("mounts", pod, f"PersistentVolumeClaim/{NS}/web-data"),
            ("uses", pod, f"ServiceAccount/{NS}/web-sa"),
        }
    for pod in ("stray", "canary", "db-0", "migrate-x1", "nightly-29001-q"):
        expected.add(("uses", p(pod), f"ServiceAccount/{NS}/default"))
    assert got == expected
    assert {k for k, _, _ in got} == {"owns", "selects", "mounts", "uses", "routes"}
    # A Service without a selector selects nothing.
    assert not [e for e in got if e[1] == f"Service/{NS}/external-db"]
    assert all(e["id"] for e in body["edges"])

    groups = {g["label"]: g["members"] for g in body["groups"]}
    assert set(groups) == {"web", "db", "migrate", "nightly"}
    assert set(groups["web"]) == {f"Deployment/{NS}/web", f"ReplicaSet/{NS}/web-7d9f", *web_pods}
    assert set(groups["nightly"]) == {
        f"CronJob/{NS}/nightly",
        f"Job/{NS}/nightly-29001",
        p("nightly-29001-q"),
    }


async def test_workload_graph_is_the_subtree(kube_admin: httpx.AsyncClient) -> None:
    resp = await kube_admin.get(f"/api/diagram/workload/{NS}/Deployment/web")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert ids(body["nodes"]) == {
        f"Deployment/{NS}/web",
        f"ReplicaSet/{NS}/web-7d9f",
        p("web-7d9f-a"),
        p("web-7d9f-b"),
        p("stray"),
        f"Service/{NS}/web",
        f"Ingress/{NS}/web",
        f"ConfigMap/{NS}/web-config",
        f"Secret/{NS}/web-tls",
        f"Secret/{NS}/web-env",
        f"PersistentVolumeClaim/{NS}/web-data",
        f"ServiceAccount/{NS}/web-sa",
        f"ServiceAccount/{NS}/default",
    }
    node_ids = ids(body["nodes"])
    assert all(e["source"] in node_ids and e["target"] in node_ids for e in body["edges"])
    assert [g["label"] for g in body["groups"]] == ["web"]

    resp = await kube_admin.get(f"/api/diagram/workload/{NS}/cronjob/nightly")
    assert resp.status_code == 200, resp.text
    assert ids(resp.json()["nodes"]) == {
        f"CronJob/{NS}/nightly",
        f"Job/{NS}/nightly-29001",
        p("nightly-29001-q"),
        f"ServiceAccount/{NS}/default",
    }


async def test_workload_errors(kube_admin: httpx.AsyncClient) -> None:
    resp = await kube_admin.get(f"/api/diagram/workload/{NS}/ConfigMap/web-config")
    assert resp.status_code == 400
    assert "Workload kind must be one of" in resp.json()["detail"]
    resp = await kube_admin.get(f"/api/diagram/workload/{NS}/Deployment/nope")
    assert resp.status_code == 404
    assert resp.json() == {"detail": f"Deployment 'nope' not found in namespace '{NS}'"}


async def test_manifest(kube_admin: httpx.AsyncClient, kmock: kmock.KubernetesEmulator) -> None:
    obj = kmock.objects[DEPLOYMENTS, NS, "web"]
    obj.patch(
        {
            "metadata": {
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}',
                    "team": "shop",
                },
            }
        }
    )
    resp = await kube_admin.get(f"/api/diagram/manifest/{NS}/Deployment/web")
    assert resp.status_code == 200, resp.text
    wrapped = resp.json()  # Kure's shape: the YAML in "manifest"
    assert {k: wrapped[k] for k in ("kind", "name", "namespace")} == {
        "kind": "Deployment",
        "name": "web",
        "namespace": NS,
    }
    resp = await kube_admin.get(
        f"/api/diagram/manifest/{NS}/Deployment/web", headers={"Accept": "text/yaml"}
    )
    assert resp.headers["content-type"].startswith("text/yaml")
    assert resp.text == wrapped["manifest"]
    manifest = yaml.safe_load(resp.text)
    assert manifest["kind"] == "Deployment"
    assert manifest["metadata"]["name"] == "web"
    assert manifest["metadata"]["annotations"] == {"team": "shop"}
    assert "managedFields" not in resp.text
    assert "last-applied-configuration" not in resp.text
    assert manifest["spec"]["replicas"] == 2

    # Cluster-scoped kinds ignore the namespace segment.
    resp = await kube_admin.get("/api/diagram/manifest/_/ClusterRole/cluster-admin")
    assert resp.status_code == 200, resp.text
    assert yaml.safe_load(resp.json()["manifest"])["metadata"]["name"] == "cluster-admin"

    resp = await kube_admin.get(f"/api/diagram/manifest/{NS}/Secret/web-tls")
    assert resp.status_code == 403
    assert resp.json() == {"detail": "Secret manifests are not readable by design."}
    assert not [r for r in kmock if r.resource == SECRETS]
    for kind in ("Permission", "Subject:User", "Subject:Group", "Subject:ServiceAccount"):
        resp = await kube_admin.get(f"/api/diagram/manifest/{NS}/{kind}/x")
        assert resp.status_code == 400, kind
        assert "synthesized" in resp.json()["detail"]
    resp = await kube_admin.get(f"/api/diagram/manifest/{NS}/Frobnicator/x")
    assert resp.status_code == 400
    resp = await kube_admin.get(f"/api/diagram/manifest/{NS}/ConfigMap/nope")
    assert resp.status_code == 404
    assert resp.json() == {"detail": f"ConfigMap 'nope' not found in namespace '{NS}'"}


async def test_roles_and_role_graphs(kube_admin: httpx.AsyncClient) -> None:
    resp = await kube_admin.get("/api/diagram/roles")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "cluster_roles": [{"name": "cluster-admin"}, {"name": "deployer"}, {"name": "view-extra"}],
        "roles": [{"namespace": NS, "name": "pod-reader"}],
    }

    resp = await kube_admin.get(f"/api/diagram/role/{NS}/pod-reader")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    role = f"Role/{NS}/pod-reader"
    binding = f"RoleBinding/{NS}/read-pods"
    perms = {n["name"]: n for n in body["nodes"] if n["kind"] == "Permission"}
    assert set(perms) == {"pods", "pods/log", "deployments.apps"}
    assert perms["pods"]["metadata"]["verbs"] == ["get", "list"]
    assert perms["pods"]["metadata"]["resourceNames"] == []
    assert perms["deployments.apps"]["metadata"]["verbs"] == ["get"]
    assert perms["deployments.apps"]["metadata"]["resourceNames"] == ["web"]
    subjects = {n["id"]: n["kind"] for n in body["nodes"] if n["kind"].startswith("Subject:")}
    assert subjects == {
        "Subject:User/alice": "Subject:User",
        "Subject:Group/devs": "Subject:Group",
        f"Subject:ServiceAccount/{NS}/web-sa": "Subject:ServiceAccount",
    }
    got = edges(body)
    assert ("binds", binding, role) in got
    assert {t for k, s, t in got if k == "grants" and s == role} == {
        n["id"] for n in perms.values()
    }
    assert {t for k, s, t in got if k == "subject" and s == binding} == set(subjects)

    resp = await kube_admin.get("/api/diagram/clusterrole/deployer")
    assert resp.status_code == 200, resp.text
    got = edges(resp.json())
    assert ("binds", "RoleBinding/ops/deployers", "ClusterRole/deployer") in got
    assert ("subject", "RoleBinding/ops/deployers", "Subject:User/bob") in got

    resp = await kube_admin.get("/api/diagram/clusterrole/view-extra")
    nodes = {n["id"]: n for n in resp.json()["nodes"]}
    assert nodes["ClusterRole/view-extra"]["metadata"]["aggregated"] is True
    assert "Subject:ServiceAccount/ops/monitor" in nodes

    resp = await kube_admin.get(f"/api/diagram/role/{NS}/nope")
    assert resp.status_code == 404
    assert resp.json() == {"detail": f"Role 'nope' not found in namespace '{NS}'"}
    resp = await kube_admin.get("/api/diagram/clusterrole/nope")
    assert resp.json() == {"detail": "ClusterRole 'nope' not found"}


def holders(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(subject kind/name, binding kind, scope) of a who-can answer."""
    return {
        (f"{g['subject']['kind']}/{g['subject']['name']}", g["binding"]["kind"], g["scope"])
        for g in body["grants"]
    }


ADMINS = ("Group/system:masters", "ClusterRoleBinding", "cluster")


async def test_who_can(kube_admin: httpx.AsyncClient) -> None:
    async def ask(**params: str) -> dict[str, Any]:
        resp = await kube_admin.get("/api/diagram/who-can", params=params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    # Through a RoleBinding, and through the cluster-admin ClusterRoleBinding (wildcards).
    body = await ask(verb="get", resource="pods", namespace=NS)
    assert holders(body) == {
        ("User/alice", "RoleBinding", NS),
        ("Group/devs", "RoleBinding", NS),
        ("ServiceAccount/web-sa", "RoleBinding", NS),
        ADMINS,
    }
    alice = next(g for g in body["grants"] if g["subject"]["name"] == "alice")
    assert alice["role"] == {"kind": "Role", "name": "pod-reader", "namespace": NS}
    assert alice["binding"] == {"kind": "RoleBinding", "name": "read-pods", "namespace": NS}
    assert alice["resource_names"] == []
    web_sa = next(g for g in body["grants"] if g["subject"]["name"] == "web-sa")
    assert web_sa["subject"]["namespace"] == NS
    # A subresource.
    body = await ask(verb="list", resource="pods/log", namespace=NS)
    assert ("User/alice", "RoleBinding", NS) in holders(body)
    # resourceNames are reported as a restriction.
    body = await ask(verb="get", resource="deployments.apps", namespace=NS)
    alice = next(g for g in body["grants"] if g["subject"]["name"] == "alice")
    assert alice["resource_names"] == ["web"]
    assert alice["api_groups"] == ["apps"]
    # A ClusterRole bound by a RoleBinding grants only in that namespace.
    body = await ask(verb="create", resource="deployments", api_group="apps", namespace="ops")
    assert holders(body) == {("User/bob", "RoleBinding", "ops"), ADMINS}
    body = await ask(verb="create", resource="deployments.apps", namespace=NS)
    assert holders(body) == {ADMINS}
    # Wildcard resources within a group: deployer's apps/* get.
    body = await ask(verb="get", resource="statefulsets.apps", namespace="ops")
    assert ("User/bob", "RoleBinding", "ops") in holders(body)
    # Negative: no one but cluster-admin deletes pods; the wrong group matches nothing.
    body = await ask(verb="delete", resource="pods", namespace=NS)
    assert holders(body) == {ADMINS}
    body = await ask(verb="get", resource="pods", api_group="apps", namespace=NS)
    assert holders(body) == {ADMINS}
    # The aggregated ClusterRole's rules count; without a namespace every binding counts.
    body = await ask(verb="watch", resource="configmaps")
    assert holders(body) == {("ServiceAccount/monitor", "ClusterRoleBinding", "cluster"), ADMINS}
    body = await ask(verb="get", resource="pods")
    assert ("User/alice", "RoleBinding", NS) in holders(body)

    for params in ({"verb": "get"}, {"resource": "pods"}, {}):
        resp = await kube_admin.get("/api/diagram/who-can", params=params)
        assert resp.status_code == 400, params


async def test_without_cluster_503(admin: httpx.AsyncClient) -> None:
    for path in (
        "/api/diagram/namespaces",
        f"/api/diagram/namespace/{NS}",
        f"/api/diagram/workload/{NS}/Deployment/web",
        f"/api/diagram/manifest/{NS}/Deployment/web",
        f"/api/diagram/manifest/{NS}/Secret/web",
        "/api/diagram/roles",
        f"/api/diagram/role/{NS}/r",
        "/api/diagram/clusterrole/r",
        "/api/diagram/who-can?verb=get&resource=pods",
    ):
        resp = await admin.get(path)
        assert resp.status_code == 503, path
        assert resp.json() == {"detail": "Kubernetes client not available"}


async def test_auth(kube_gateway: KubeGateway, kmock: kmock.KubernetesEmulator) -> None:
    seed(kmock)
    async with kube_gateway() as client:
        resp = await client.get(f"/api/diagram/namespace/{NS}")
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Not authenticated"}
        resp = await client.get(f"/api/diagram/namespace/{NS}", headers={"X-Service-Token": TOKEN})
        assert resp.status_code == 403
    assert not list(kmock)


async def test_cache_shares_fetches(
    kube_gateway: KubeGateway, kmock: kmock.KubernetesEmulator
) -> None:
    seed(kmock)

    def pod_lists() -> int:
        return len([r for r in kmock if r.resource == PODS and r.name is None])

    def rbac_lists() -> int:
        return len([r for r in kmock if r.resource == CLUSTERROLES])

    async with kube_gateway(diagram_cache_seconds=0.5) as client:
        resp = await client.post("/api/auth/signup", json=ADMIN)
        assert resp.status_code == 201
        first = await client.get(f"/api/diagram/namespace/{NS}")
        again = await client.get(f"/api/diagram/workload/{NS}/Deployment/web")
        assert first.status_code == again.status_code == 200
        assert pod_lists() == 1
        # Concurrent identical requests on a cold cache share one fetch.
        answers = await asyncio.gather(
            *(client.get("/api/diagram/namespace/ops") for _ in range(5))
        )
        assert all(a.status_code == 200 for a in answers)
        assert pod_lists() == 2
        answers = await asyncio.gather(*(client.get("/api/diagram/roles") for _ in range(3)))
        await client.get("/api/diagram/who-can", params={"verb": "get", "resource": "pods"})
        assert rbac_lists() == 1
        # After the TTL the lists are read again.
        await asyncio.sleep(0.6)
        await client.get(f"/api/diagram/namespace/{NS}")
        assert pod_lists() == 3


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["a"]}]}, {"t": "a"}, True),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]},
            {"t": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": "a"}, False),
        (
            {"matchExpressions": [{"key": "t", "operator": "Gt", "values": ["1"]}]},
            {"t": "2"},
            False,
        ),
        ({}, {"app": "web"}, False),
    ],
)
def test_selector_matching(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


def _pod(name: str, labels: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "controller": True}]
    return {"metadata": meta, "spec": {}}


def test_selects_edges_from_the_label_index() -> None:
    """Selector edges need every pair on one Pod: two listed Pods sharing a name (a node)
    do not combine their labels; values compare as strings; workloads select orphans only."""
    objects = {
        "Pod": [
            _pod("a", {"app": "web", "tier": "front"}),
            _pod("b", {"app": "web"}, owner="web-1"),
            _pod("dup", {"app": "web"}),
            _pod("dup", {"tier": "front"}),
            _pod("num", {"port": "80", "app": "api"}),
        ],
        "Service": [
            {"metadata": {"name": "both"}, "spec": {"selector": {"app": "web", "tier": "front"}}},
            {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}},
            {"metadata": {"name": "port"}, "spec": {"selector": {"port": 80}}},
            {"metadata": {"name": "none"}, "spec": {"selector": {}}},
        ],
        "Deployment": [
            {
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {
                        "matchLabels": {"app": "web"},
                        "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}],
                    }
                },
            },
            {
                "metadata": {"name": "any-api"},
                "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
            },
        ],
    }
    edges = {
        (e.source.split("/")[0], e.source.split("/")[-1], e.target.split("/")[-1])
        for e in namespace_diagram(NS, objects).edges
        if e.kind == "selects"
    }
    assert edges == {
        ("Service", "both", "a"),
        ("Service", "web", "a"),
        ("Service", "web", "b"),
        ("Service", "web", "dup"),
        ("Service", "port", "num"),
        ("Deployment", "web", "dup"),  # "b" is controlled, "a" has a tier
        ("Deployment", "any-api", "a"),
        ("Deployment", "any-api", "dup"),
        ("Deployment", "any-api", "num"),
    }


def test_sanitise_drops_secret_data_everywhere() -> None:
    listing = {
        "kind": "List",
        "items": [
            {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "djE="}, "stringData": {}},
            {
                "kind": "ConfigMap",
                "metadata": {
                    "name": "c",
                    "managedFields": [{}],
                    "annotations": {LAST_APPLIED: '{"kind":"Secret","data":{"k":"djE="}}'},
                },
                "data": {"a": "b"},
            },
        ],
    }
    assert sanitise(listing) == {
        "kind": "List",
        "items": [
            {"kind": "Secret", "metadata": {"name": "s"}},
            {"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {}}, "data": {"a": "b"}},
        ],
    }


async def test_generated_namespace_graph(
    kube_gateway: KubeGateway, kmock: kmock.KubernetesEmulator
) -> None:
    """The namespace ``bench.diagram`` serves (every kind the gateway lists, objects as a
    real API server lists them) makes the graph its objects declare: every listed object a
    node, owners own, Services select their Deployment's Pods, the Ingress routes, Pods
    mount their ConfigMap and claim and use their ServiceAccount."""
    assert set(GENERATED_KINDS) == set(NAMESPACE_KINDS)
    ns = "generated"
    objects = build_namespace(ns, pods=23, deployments=6, services=8)
    seed_emulator(kmock, ns, objects)
    async with kube_gateway(diagram_cache_seconds=0) as client:
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        resp = await client.get(f"/api/diagram/namespace/{ns}")
    assert resp.status_code == 200, resp.text
    body = resp.json()

    def node(kind: str, name: str) -> str:
        return f"{kind}/{ns}/{name}"

    listed = {node(kind, o["metadata"]["name"]) for kind, items in objects.items() for o in items}
    nodes = ids(body["nodes"])
    assert listed <= nodes
    assert {n.split("/")[0] for n in nodes - listed} == {"Secret"}  # referenced only
    pods = objects["Pod"]
    assert len(pods) == 23 and not objects["StatefulSet"] and not objects["DaemonSet"]

    got = edges(body)
    want: set[tuple[str, str, str]] = set()
    for kind, items in objects.items():
        for o in items:
            for ref in o["metadata"].get("ownerReferences", []):
                want.add(
                    ("owns", node(ref["kind"], ref["name"]), node(kind, o["metadata"]["name"]))
                )
    for svc in objects["Service"]:
        app = svc["spec"]["selector"]["app"]
        want |= {
            (
                "selects",
                node("Service", svc["metadata"]["name"]),
                node("Pod", p["metadata"]["name"]),
            )
            for p in pods
            if p["metadata"]["labels"]["app"] == app
        }
    for ingress in objects["Ingress"]:
        for path in ingress["spec"]["rules"][0]["http"]["paths"]:
            target = node("Service", path["backend"]["service"]["name"])
            want.add(("routes", node("Ingress", ingress["metadata"]["name"]), target))
    assert {e for e in got if e[0] in ("owns", "selects", "routes")} == want
    assert len([e for e in want if e[0] == "owns"]) == 6 + 23  # Deployment->RS, RS->Pod
    for p in pods:
        pod = node("Pod", p["metadata"]["name"])
        app = p["metadata"]["labels"]["app"]
        assert ("uses", pod, node("ServiceAccount", p["spec"]["serviceAccountName"])) in got
        assert ("mounts", pod, node("ConfigMap", f"{app}-config")) in got
        claim = ("mounts", pod, node("PersistentVolumeClaim", f"{app}-data"))
        assert (claim in got) is (int(app.removeprefix("app-")) % 4 == 0)


def flow(n: int, pod_ip: str, peer_ip: str, kind: str, decision: str = "ALLOW") -> dict[str, str]:
    """A kguardian event (a distinct flow per ``n``)."""
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "pod_name": "x",
        "pod_namespace": NS,
        "pod_ip": pod_ip,
        "pod_port": str(30000 + n),
        "ip_protocol": "TCP",
        "traffic_type": kind,
        "traffic_in_out_ip": peer_ip,
        "traffic_in_out_port": "5432",
        "decision": decision,
        "time_stamp": f"2026-11-20T10:00:{n:02d}.000000",
    }


async def test_traffic_overlay_joins_workloads_that_talked(
    kube_admin: httpx.AsyncClient,
    kmock: kmock.KubernetesEmulator,
    nats_url: str,
    mongo_url: str,
    mongo_db_name: str,
) -> None:
    # The emulator has no kubelet: the pods' IPs are set here, as a real cluster reports them.
    for name, ip in (
        ("web-7d9f-a", "10.1.0.10"),
        ("web-7d9f-b", "10.1.0.11"),
        ("canary", "10.1.0.20"),
    ):
        kmock.objects[PODS, NS, name].patch({"status": {"podIP": ip}})
    store = StoreSettings(nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name)
    async with (
        serving("ingest", IngestSettings(nats_url=nats_url), ingest),
        serving("traffic-store", store, traffic_store),
    ):
        events = [
            flow(1, "10.1.0.10", "10.1.0.20", "EGRESS"),
            flow(2, "10.1.0.11", "10.1.0.20", "EGRESS", decision="DROP"),
            flow(3, "10.1.0.20", "10.1.0.10", "INGRESS"),
            flow(4, "10.1.0.10", "203.0.113.7", "EGRESS"),
        ]
        resp = await kube_admin.post(
            "/pod/traffic/batch", json=events, headers={"X-Service-Token": TOKEN}
        )
        assert resp.status_code == 200, resp.text
        resp = await kube_admin.get(f"/api/diagram/namespace/{NS}?traffic=true")
        assert resp.status_code == 200, resp.text
    body = resp.json()
    traffic = {(e["source"], e["target"]): e for e in body["edges"] if e["kind"] == "traffic"}
    web = f"Deployment/{NS}/web"
    canary = p("canary")
    assert set(traffic) == {(web, canary), (web, "External/203.0.113.7")}
    assert (traffic[(web, canary)]["count"], traffic[(web, canary)]["dropped"]) == (3, True)
    assert traffic[(web, "External/203.0.113.7")]["dropped"] is False
    assert "External/203.0.113.7" in ids(body["nodes"])
    plain = (await kube_admin.get(f"/api/diagram/namespace/{NS}")).json()
    assert not [e for e in plain["edges"] if e["kind"] == "traffic"]
