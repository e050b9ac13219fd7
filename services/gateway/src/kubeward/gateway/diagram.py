"""Read-only cluster views (Kure's Diagram tab): topology, manifests, RBAC, who-can.

- ``GET /api/diagram/namespaces`` → ``{"namespaces": [...]}`` (sorted).
- ``GET /api/diagram/namespace/{ns}`` → ``{"nodes", "edges", "groups"}`` of one namespace.
- ``GET /api/diagram/workload/{ns}/{kind}/{name}`` → the same, restricted to one workload.
- ``GET /api/diagram/manifest/{ns}/{kind}/{name}`` → the live object as YAML, in Kure's
  ``{"manifest", "kind", "name", "namespace"}`` (``Accept: text/yaml``: the YAML alone; no
  ``managedFields``, no ``last-applied-configuration``, never Secret data; Secrets 403).
- ``GET /api/diagram/roles``, ``/role/{ns}/{name}``, ``/clusterrole/{name}`` → RBAC graphs.
- ``GET /api/diagram/who-can?verb=&resource=&namespace=&api_group=`` → who holds a permission.

The graphs are built by :mod:`kubeward.gateway.diagram_graph` from list calls; the lists of
one namespace (and the cluster's RBAC objects) are cached for ``diagram_cache_seconds`` and
concurrent identical requests share one fetch. A list the API answers 404 (a resource the
cluster does not serve) counts as empty. Without a cluster every route answers
``503 {"detail": "Kubernetes client not available"}``; other API failures are mapped as for
pod logs (:func:`kubeward.gateway.kube.api_error`).
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import msgspec
import yaml
from kubernetes_asyncio import client as k8s
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException
from litestar.params import FromQuery, Parameter

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.diagram_graph import (
    NAMESPACE_KINDS,
    WORKLOAD_ROOT_KINDS,
    Diagram,
    Obj,
    Rbac,
    WhoCan,
    namespace_diagram,
    node_id,
    role_diagram,
    role_listing,
    who_can,
    workload_diagram,
)
from kubeward.gateway.diagram_traffic import overlay
from kubeward.gateway.kube import api_error, require_kube
from kubeward.gateway.pod_logs import DNS_LABEL, DNS_SUBDOMAIN
from kubeward.kube.client import CALL_ERRORS, ApiException, KubeClient
from kubeward.schemas import bus
from kubeward.schemas.traffic import PodTrafficQuery

T = TypeVar("T")

SECRET_FORBIDDEN = "Secret manifests are not readable by design."
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SYNTHESIZED_KINDS = ("Permission", "Subject:User", "Subject:Group", "Subject:ServiceAccount")
_RBAC_NAME = re.compile(r"[^/%\x00-\x1f\x7f]{1,253}")
"""RBAC object names only have to be valid path segments (``system:controller:x`` is one)."""

_decode = msgspec.json.Decoder(dict[str, Any])


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector held off for one synchronous burst of allocations.

    Decoding a namespace's lists creates some 50,000 dicts and lists (500 Pods), building its
    graph thousands more; with the collector on, that many allocations trigger full
    collections that walk the whole heap (measured: decoding 2.3 MB of lists took ~85 ms
    instead of ~10 ms). Decoded JSON holds no reference cycles, so nothing is lost by
    collecting later. Never spans an ``await``; a collector already off stays off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Apis:
    """The typed API groups of one client (built once per client, cheap)."""

    def __init__(self, kube: KubeClient) -> None:
        self.core = kube.core
        self.apps = k8s.AppsV1Api(kube.api_client)
        self.batch = k8s.BatchV1Api(kube.api_client)
        self.networking = k8s.NetworkingV1Api(kube.api_client)
        self.rbac = k8s.RbacAuthorizationV1Api(kube.api_client)

    def namespaced_lists(self) -> dict[str, Callable[..., Any]]:
        return {
            "Deployment": self.apps.list_namespaced_deployment,
            "ReplicaSet": self.apps.list_namespaced_replica_set,
            "StatefulSet": self.apps.list_namespaced_stateful_set,
            "DaemonSet": self.apps.list_namespaced_daemon_set,
            "Job": self.batch.list_namespaced_job,
            "CronJob": self.batch.list_namespaced_cron_job,
            "Pod": self.core.list_namespaced_pod,
            "Service": self.core.list_namespaced_service,
            "Ingress": self.networking.list_namespaced_ingress,
            "ConfigMap": self.core.list_namespaced_config_map,
            "PersistentVolumeClaim": self.core.list_namespaced_persistent_volume_claim,
            "ServiceAccount": self.core.list_namespaced_service_account,
        }

    def reads(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        """kind → (read method, namespaced)."""
        return {
            "Deployment": (self.apps.read_namespaced_deployment, True),
            "ReplicaSet": (self.apps.read_namespaced_replica_set, True),
            "StatefulSet": (self.apps.read_namespaced_stateful_set, True),
            "DaemonSet": (self.apps.read_namespaced_daemon_set, True),
            "Job": (self.batch.read_namespaced_job, True),
            "CronJob": (self.batch.read_namespaced_cron_job, True),
            "Pod": (self.core.read_namespaced_pod, True),
            "Service": (self.core.read_namespaced_service, True),
            "Ingress": (self.networking.read_namespaced_ingress, True),
            "ConfigMap": (self.core.read_namespaced_config_map, True),
            "PersistentVolumeClaim": (self.core.read_namespaced_persistent_volume_claim, True),
            "ServiceAccount": (self.core.read_namespaced_service_account, True),
            "Role": (self.rbac.read_namespaced_role, True),
            "RoleBinding": (self.rbac.read_namespaced_role_binding, True),
            "ClusterRole": (self.rbac.read_cluster_role, False),
            "ClusterRoleBinding": (self.rbac.read_cluster_role_binding, False),
        }


MANIFEST_KINDS = (*NAMESPACE_KINDS, "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
_KIND_ALIASES = {k.lower(): k for k in (*MANIFEST_KINDS, "Secret", *SYNTHESIZED_KINDS)} | {
    "pvc": "PersistentVolumeClaim"
}


def normalise_kind(kind: str) -> str | None:
    """The canonical kind for a case-insensitive name (``deployment``, ``PVC``)."""
    return _KIND_ALIASES.get(kind.lower())


class DiagramCache:
    """Results of list calls kept for ``ttl`` seconds; concurrent misses share one fetch.

    A failed fetch is not kept: the next request tries again.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, asyncio.Task[Any]]] = {}

    async def get(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and (not entry[1].done() or entry[0] > now):
            task: asyncio.Task[T] = entry[1]
        else:
            for stale in [k for k, (exp, t) in self._entries.items() if t.done() and exp <= now]:
                del self._entries[stale]
            task = asyncio.ensure_future(fetch())
            self._entries[key] = (now + self.ttl, task)
            task.add_done_callback(lambda t: self._settled(key, t))
        # shield: a client leaving must not cancel the fetch other waiters share.
        return await asyncio.shield(task)

    def _settled(self, key: tuple[str, ...], task: asyncio.Task[Any]) -> None:
        entry = self._entries.get(key)
        if entry is None or entry[1] is not task:
            return
        if task.cancelled() or task.exception() is not None:
            del self._entries[key]
        else:  # the TTL counts from when the answer arrived
            self._entries[key] = (time.monotonic() + self.ttl, task)


class DiagramViews:
    """What the diagram routes keep between requests (one per app, the ``diagram_views``
    dependency): the list cache and the API groups of the current client."""

    def __init__(self, cache_seconds: float) -> None:
        self.cache = DiagramCache(cache_seconds)
        self._apis: _Apis | None = None

    def context(self, kube: KubeClient | None) -> tuple[_Apis, KubeClient, DiagramCache]:
        """The API groups, client and cache; 503 without a cluster."""
        client = require_kube(kube)
        if self._apis is None or self._apis.core is not client.core:
            self._apis = _Apis(client)
        return self._apis, client, self.cache


async def _list(kube: KubeClient, method: Callable[..., Any], *args: Any) -> list[Obj]:
    """The items of one list call; a 404 (resource not served) is an empty list."""
    try:
        raw = await kube.raw(method, *args)
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise
    with _gc_paused():
        items = _decode.decode(raw).get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def _guarded(call: Awaitable[T], not_found: str = "Not found") -> T:
    try:
        return await call
    except CALL_ERRORS as exc:
        raise api_error(exc, not_found) from None
    except msgspec.DecodeError:
        raise HTTPException(
            status_code=502, detail="The Kubernetes API answered an unreadable body"
        ) from None


async def _namespace_objects(
    views: DiagramViews, client: KubeClient | None, namespace: str
) -> dict[str, list[Obj]]:
    apis, kube, cache = views.context(client)

    async def fetch() -> dict[str, list[Obj]]:
        lists = apis.namespaced_lists()
        results = await asyncio.gather(*(_list(kube, m, namespace) for m in lists.values()))
        return dict(zip(lists, results, strict=True))

    return await _guarded(cache.get(("namespace", namespace), fetch))


TRAFFIC_FLOWS = 5000
"""The most recent flows of a namespace the overlay reads."""


async def _flows(link: BusLink, namespace: str) -> list[dict[str, Any]]:
    """The namespace's stored flows with their hit counts; 503 when traffic-store is away."""
    query = PodTrafficQuery(namespace=namespace, limit=TRAFFIC_FLOWS, with_stats=True)
    reply = await link.ask(
        bus.RPC_POD_TRAFFIC_LIST, msgspec.json.encode(query), "Traffic store is not available"
    )
    if not reply.ok:
        raise HTTPException(status_code=reply.status, detail=reply.detail or "Request failed")
    rows: list[dict[str, Any]] = msgspec.json.decode(reply.body) or []
    return rows


async def _rbac(views: DiagramViews, client: KubeClient | None) -> Rbac:
    apis, kube, cache = views.context(client)

    async def fetch() -> Rbac:
        cr, crb, r, rb = await asyncio.gather(
            _list(kube, apis.rbac.list_cluster_role),
            _list(kube, apis.rbac.list_cluster_role_binding),
            _list(kube, apis.rbac.list_role_for_all_namespaces),
            _list(kube, apis.rbac.list_role_binding_for_all_namespaces),
        )
        return Rbac(cluster_roles=cr, cluster_role_bindings=crb, roles=r, role_bindings=rb)

    return await _guarded(cache.get(("rbac",), fetch))


def _check(field: str, value: str, *, rbac: bool = False, label: bool = False) -> None:
    if rbac:
        ok = bool(_RBAC_NAME.fullmatch(value)) and value not in (".", "..")
        limit = 253
    else:
        limit = 63 if label else 253
        pattern = (DNS_LABEL if label else DNS_SUBDOMAIN).strip("^$")
        ok = len(value) <= limit and bool(re.fullmatch(pattern, value))
    if not ok:
        raise ClientException(detail=f"{field}: {value!r} is not a valid Kubernetes name")


def sanitise(value: Any) -> Any:
    """A copy without ``managedFields``, ``last-applied-configuration`` or Secret data."""
    if isinstance(value, list):
        return [sanitise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    secret = value.get("kind") == "Secret"
    for key, item in value.items():
        if secret and key in ("data", "stringData"):
            continue
        if key == "managedFields":
            continue
        if key == "annotations" and isinstance(item, dict):
            item = {k: v for k, v in item.items() if k != LAST_APPLIED}
        out[key] = sanitise(item)
    return out


Ns = Annotated[str, Parameter(description="Namespace", max_length=63)]
Name = Annotated[str, Parameter(description="Object name", max_length=253)]
Kind = Annotated[str, Parameter(description="Object kind, e.g. Deployment", max_length=64)]

_RESPONSES_DOC = "Without a cluster: 503 {detail: 'Kubernetes client not available'}."


class DiagramController(Controller):
    """Kure's Diagram endpoints plus who-can, read from the Kubernetes API (read role)."""

    path = "/api/diagram"
    tags = ["diagram"]

    @get("/namespaces", summary="List namespaces", description=_RESPONSES_DOC)
    async def namespaces(
        self, diagram_views: NamedDependency[DiagramViews], kube: NamedDependency[KubeClient | None]
    ) -> dict[str, list[str]]:
        apis, client, cache = diagram_views.context(kube)

        async def fetch() -> list[str]:
            items = await _list(client, apis.core.list_namespace)
            return sorted({str(i.get("metadata", {}).get("name", "")) for i in items} - {""})

        return {"namespaces": await _guarded(cache.get(("namespaces",), fetch))}

    @get(
        "/namespace/{ns:str}",
        summary="Per-namespace graph",
        description="?traffic=true overlays observed traffic: a 'traffic' edge per pair of "
        "workloads (or external IPs) that talked, with count and dropped. " + _RESPONSES_DOC,
    )
    async def namespace(
        self,
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        link: NamedDependency[BusLink],
        ns: Ns,
        traffic: FromQuery[bool] = False,
    ) -> Diagram:
        _check("namespace", ns, label=True)
        objects = await _namespace_objects(diagram_views, kube, ns)
        with _gc_paused():
            diagram = namespace_diagram(ns, objects)
        if not traffic:
            return diagram
        return overlay(diagram, ns, objects.get("Pod", []), await _flows(link, ns))

    @get(
        "/workload/{ns:str}/{kind:str}/{name:str}",
        summary="Per-workload graph",
        description="kind: Deployment, StatefulSet, DaemonSet, Job or CronJob. " + _RESPONSES_DOC,
    )
    async def workload(
        self,
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        ns: Ns,
        kind: Kind,
        name: Name,
    ) -> Diagram:
        canonical = normalise_kind(kind)
        if canonical not in WORKLOAD_ROOT_KINDS:
            raise ClientException(
                detail=f"Workload kind must be one of {sorted(WORKLOAD_ROOT_KINDS)}; got '{kind}'"
            )
        _check("namespace", ns, label=True)
        _check("name", name)
        objects = await _namespace_objects(diagram_views, kube, ns)
        with _gc_paused():
            full = namespace_diagram(ns, objects)
        root = node_id(canonical, name, ns)
        if not any(n.id == root and not n.metadata.get("missing") for n in full.nodes):
            raise HTTPException(
                status_code=404, detail=f"{canonical} '{name}' not found in namespace '{ns}'"
            )
        return workload_diagram(full, root)

    @get(
        "/manifest/{ns:str}/{kind:str}/{name:str}",
        summary="Live manifest (YAML)",
        description='As Kure: {"manifest": "<YAML>", "kind", "name", "namespace"}; with '
        "Accept: text/yaml the YAML alone. Secret: 403 by design; synthesized kinds "
        "(Permission, Subject:*): 400. For cluster-scoped kinds the namespace segment is "
        "ignored. " + _RESPONSES_DOC,
    )
    async def manifest(
        self,
        request: Request[Any, Any, State],
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        ns: Ns,
        kind: Kind,
        name: Name,
    ) -> Response[Any]:
        require_kube(kube)  # 503 first without a cluster, as Kure
        canonical = normalise_kind(kind)
        if canonical == "Secret":
            raise HTTPException(status_code=403, detail=SECRET_FORBIDDEN)
        if canonical in SYNTHESIZED_KINDS:
            raise ClientException(
                detail=f"{canonical} is synthesized by the diagram and has no manifest"
            )
        if canonical is None or canonical not in MANIFEST_KINDS:
            raise ClientException(detail=f"Unsupported kind '{kind}'")
        apis, client, _ = diagram_views.context(kube)
        method, namespaced = apis.reads()[canonical]
        rbac_kind = canonical.startswith(("Role", "ClusterRole"))
        _check("name", name, rbac=rbac_kind)
        if namespaced:
            _check("namespace", ns, label=True)
            args: tuple[str, ...] = (name, ns)
            not_found = f"{canonical} '{name}' not found in namespace '{ns}'"
        else:
            args = (name,)
            not_found = f"{canonical} '{name}' not found"
        raw = await _guarded(client.raw(method, *args), not_found)
        try:
            obj = sanitise(_decode.decode(raw))
        except msgspec.DecodeError:
            raise HTTPException(
                status_code=502, detail="The Kubernetes API answered an unreadable body"
            ) from None
        text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)
        accept = request.headers.get("accept", "")
        if "yaml" in accept and "json" not in accept:
            return Response(text, media_type="text/yaml")
        namespace = ns if namespaced else None
        body = {"manifest": text, "kind": canonical, "name": name, "namespace": namespace}
        return Response(body, media_type="application/json")

    @get("/roles", summary="List Roles and ClusterRoles", description=_RESPONSES_DOC)
    async def roles(
        self, diagram_views: NamedDependency[DiagramViews], kube: NamedDependency[KubeClient | None]
    ) -> dict[str, list[dict[str, str]]]:
        return role_listing(await _rbac(diagram_views, kube))

    @get("/role/{ns:str}/{name:str}", summary="Per-Role graph", description=_RESPONSES_DOC)
    async def role(
        self,
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        ns: Ns,
        name: Name,
    ) -> Diagram:
        _check("namespace", ns, label=True)
        _check("name", name, rbac=True)
        diagram = role_diagram(await _rbac(diagram_views, kube), "Role", name, ns)
        if diagram is None:
            raise HTTPException(
                status_code=404, detail=f"Role '{name}' not found in namespace '{ns}'"
            )
        return diagram

    @get("/clusterrole/{name:str}", summary="Per-ClusterRole graph", description=_RESPONSES_DOC)
    async def cluster_role(
        self,
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        name: Name,
    ) -> Diagram:
        _check("name", name, rbac=True)
        diagram = role_diagram(await _rbac(diagram_views, kube), "ClusterRole", name, None)
        if diagram is None:
            raise HTTPException(status_code=404, detail=f"ClusterRole '{name}' not found")
        return diagram

    @get(
        "/who-can",
        summary="Who can do a verb on a resource",
        description="resource may carry its group (deployments.apps) or take api_group; "
        "without a group any group matches. With namespace: ClusterRoleBindings and that "
        "namespace's RoleBindings; without: every binding. " + _RESPONSES_DOC,
    )
    async def who_can(
        self,
        diagram_views: NamedDependency[DiagramViews],
        kube: NamedDependency[KubeClient | None],
        verb: Annotated[str | None, Parameter(max_length=64)] = None,
        resource: Annotated[str | None, Parameter(max_length=253)] = None,
        namespace: Annotated[str | None, Parameter(max_length=63)] = None,
        api_group: Annotated[str | None, Parameter(max_length=253)] = None,
    ) -> WhoCan:
        if not verb or not resource:
            raise ClientException(detail="verb and resource are required")
        if namespace is not None:
            _check("namespace", namespace, label=True)
        group = api_group
        base, sep, sub = resource.partition("/")
        if group is None and "." in base:
            base, group = base.split(".", 1)
        name = base + sep + sub
        return who_can(await _rbac(diagram_views, kube), verb, name, group, namespace)
