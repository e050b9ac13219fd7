"""Pure graph building for the cluster views: objects (decoded JSON) in, diagrams out.

No I/O here: :mod:`kubeward.gateway.diagram` fetches the objects and serves the answers.

Node ids are ``Kind/namespace/name`` (``Kind/name`` for cluster-scoped kinds and User/Group
subjects). Edge kinds, always ``source → target``:

- ``owns``: an owner → the object whose ``metadata.ownerReferences`` name it.
- ``selects``: a Service → a Pod its ``spec.selector`` matches; a workload → a Pod its
  ``spec.selector`` (matchLabels and matchExpressions) matches that has no controller owner
  (an orphan the controller would adopt).
- ``mounts``: a Pod → a ConfigMap, Secret or PVC it reads (volumes, projected volumes,
  ``envFrom``, ``env[].valueFrom``, ``imagePullSecrets``).
- ``uses``: a Pod → its ServiceAccount.
- ``routes``: an Ingress → a Service its rules or default backend send traffic to.
- ``grants``: a Role/ClusterRole → a synthesized Permission.
- ``binds``: a (Cluster)RoleBinding → the Role/ClusterRole it refers to.
- ``subject``: a (Cluster)RoleBinding → a Subject:User/Group/ServiceAccount it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from kubeward.core.label_selectors import OPERATORS, expression_matches

Obj = dict[str, Any]

WORKLOAD_ROOT_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
NAMESPACE_KINDS = (
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "Service",
    "Ingress",
    "ConfigMap",
    "PersistentVolumeClaim",
    "ServiceAccount",
)
"""The kinds listed per namespace. Secrets are never listed: a Secret node stands for a
reference to it from a Pod (name only)."""
SELECTING_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


class Node(msgspec.Struct):
    id: str
    kind: str
    name: str
    namespace: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class Edge(msgspec.Struct):
    id: str
    source: str
    target: str
    kind: str


class Group(msgspec.Struct):
    id: str
    label: str
    members: list[str]


class Diagram(msgspec.Struct):
    nodes: list[Node]
    edges: list[Edge]
    groups: list[Group]


def node_id(kind: str, name: str, namespace: str | None = None) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(_meta(obj).get("labels")).items()}


# --- label selectors --------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a ``LabelSelector`` (matchLabels + matchExpressions) matches ``labels``.

    An empty or absent selector matches nothing here (a workload or Service without one
    selects no Pods); an unknown operator matches nothing.
    """
    if not selector:
        return False
    match_labels = _dict(selector.get("matchLabels"))
    expressions = _list(selector.get("matchExpressions"))
    if not match_labels and not expressions:
        return False
    for key, value in match_labels.items():
        if labels.get(str(key)) != str(value):
            return False
    for expression in expressions:
        if not isinstance(expression, dict):
            return False
        key = str(expression.get("key", ""))
        operator = str(expression.get("operator"))
        values = {str(v) for v in _list(expression.get("values"))}
        if operator not in OPERATORS or not expression_matches(key, operator, values, labels):
            return False
    return True


def service_selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Service's plain ``spec.selector`` map; empty selects nothing."""
    if not selector:
        return False
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


# --- the namespace graph ----------------------------------------------------------------


def _status_metadata(kind: str, obj: Obj) -> dict[str, Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    meta: dict[str, Any] = {}
    labels = _labels(obj)
    if labels:
        meta["labels"] = labels
    created = _meta(obj).get("creationTimestamp")
    if created:
        meta["created"] = created
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        meta["replicas"] = spec.get("replicas", 1)
        meta["ready_replicas"] = status.get("readyReplicas", 0)
    elif kind == "DaemonSet":
        meta["desired"] = status.get("desiredNumberScheduled", 0)
        meta["ready"] = status.get("numberReady", 0)
    elif kind == "Job":
        meta["succeeded"] = status.get("succeeded", 0)
        meta["failed"] = status.get("failed", 0)
        meta["active"] = status.get("active", 0)
    elif kind == "CronJob":
        meta["schedule"] = spec.get("schedule")
        meta["suspend"] = bool(spec.get("suspend", False))
    elif kind == "Pod":
        meta["phase"] = status.get("phase")
        meta["node_name"] = spec.get("nodeName")
        statuses = _list(status.get("containerStatuses"))
        meta["restarts"] = sum(int(_dict(s).get("restartCount", 0) or 0) for s in statuses)
        meta["containers"] = [_dict(c).get("name") for c in _list(spec.get("containers"))]
    elif kind == "Service":
        meta["type"] = spec.get("type", "ClusterIP")
        meta["cluster_ip"] = spec.get("clusterIP")
        meta["ports"] = [
            {k: p[k] for k in ("name", "port", "targetPort", "protocol") if k in p}
            for p in _list(spec.get("ports"))
            if isinstance(p, dict)
        ]
        meta["selector"] = _dict(spec.get("selector"))
    elif kind == "Ingress":
        meta["hosts"] = sorted(
            {
                str(r["host"])
                for r in _list(spec.get("rules"))
                if isinstance(r, dict) and "host" in r
            }
        )
    elif kind == "ConfigMap":
        meta["keys"] = sorted(_dict(obj.get("data")).keys())
    elif kind == "PersistentVolumeClaim":
        meta["phase"] = status.get("phase")
        meta["storage_class"] = spec.get("storageClassName")
        meta["storage"] = _dict(_dict(spec.get("resources")).get("requests")).get("storage")
    return meta


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, Edge] = {}

    def add(self, kind: str, name: str, namespace: str | None, meta: dict[str, Any]) -> str:
        nid = node_id(kind, name, namespace)
        if nid not in self.nodes:
            self.nodes[nid] = Node(id=nid, kind=kind, name=name, namespace=namespace, metadata=meta)
        return nid

    def ensure(self, kind: str, name: str, namespace: str | None, **meta: Any) -> str:
        """A node for a referenced object; one not listed is marked ``missing``."""
        nid = node_id(kind, name, namespace)
        if nid not in self.nodes:
            self.add(kind, name, namespace, dict(meta) or {"missing": True})
        return nid

    def edge(self, kind: str, source: str, target: str) -> None:
        eid = f"{kind}:{source}->{target}"
        self.edges.setdefault(eid, Edge(id=eid, source=source, target=target, kind=kind))


def _pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets and PVCs a Pod spec reads."""
    spec = _dict(pod.get("spec"))
    refs: set[tuple[str, str]] = set()

    def ref(kind: str, name: Any) -> None:
        if isinstance(name, str) and name:
            refs.add((kind, name))

    for volume in _list(spec.get("volumes")):
        volume = _dict(volume)
        ref("ConfigMap", _dict(volume.get("configMap")).get("name"))
        ref("Secret", _dict(volume.get("secret")).get("secretName"))
        ref("PersistentVolumeClaim", _dict(volume.get("persistentVolumeClaim")).get("claimName"))
        for source in _list(_dict(volume.get("projected")).get("sources")):
            source = _dict(source)
            ref("ConfigMap", _dict(source.get("configMap")).get("name"))
            ref("Secret", _dict(source.get("secret")).get("name"))
    containers = (
        _list(spec.get("containers"))
        + _list(spec.get("initContainers"))
        + _list(spec.get("ephemeralContainers"))
    )
    for container in containers:
        container = _dict(container)
        for env_from in _list(container.get("envFrom")):
            env_from = _dict(env_from)
            ref("ConfigMap", _dict(env_from.get("configMapRef")).get("name"))
            ref("Secret", _dict(env_from.get("secretRef")).get("name"))
        for env in _list(container.get("env")):
            value_from = _dict(_dict(env).get("valueFrom"))
            ref("ConfigMap", _dict(value_from.get("configMapKeyRef")).get("name"))
            ref("Secret", _dict(value_from.get("secretKeyRef")).get("name"))
    for pull in _list(spec.get("imagePullSecrets")):
        ref("Secret", _dict(pull).get("name"))
    return refs


def _ingress_services(ingress: Obj) -> set[str]:
    spec = _dict(ingress.get("spec"))
    backends = [_dict(spec.get("defaultBackend")), _dict(spec.get("backend"))]
    for rule in _list(spec.get("rules")):
        for path in _list(_dict(_dict(rule).get("http")).get("paths")):
            backends.append(_dict(_dict(path).get("backend")))
    names: set[str] = set()
    for backend in backends:
        name = _dict(backend.get("service")).get("name") or backend.get("serviceName")
        if isinstance(name, str) and name:
            names.add(name)
    return names


class _Pods:
    """The named Pods of a namespace, each read once, indexed for selector matching.

    Pods are kept by position (two listed Pods may share a name, hence a node id, yet carry
    different labels): ``by_label`` maps each ``(key, value)`` label pair to the positions of
    the Pods carrying it, and a selector's candidates are the intersection over its pairs.
    """

    def __init__(self, pods: list[Obj], namespace: str) -> None:
        self.ids = [node_id("Pod", _name(pod), namespace) for pod in pods]
        self.labels = [_labels(pod) for pod in pods]
        self.by_label: dict[tuple[str, str], set[int]] = {}
        for index, labels in enumerate(self.labels):
            for pair in labels.items():
                self.by_label.setdefault(pair, set()).add(index)

    def carrying(self, pairs: Mapping[Any, Any], among: set[int] | None = None) -> list[int]:
        """Positions (ascending) of the Pods (of ``among``; default all) carrying every
        ``key: value`` of ``pairs`` (compared as strings); all of ``among`` when empty."""
        found = set(range(len(self.ids))) if among is None else among
        for key, value in pairs.items():
            found = found & self.by_label.get((str(key), str(value)), set())
            if not found:
                break
        return sorted(found)


def namespace_diagram(namespace: str, objects: Mapping[str, Iterable[Obj]]) -> Diagram:
    """The graph of one namespace from its objects per kind (``NAMESPACE_KINDS``)."""
    b = _Builder()
    by_kind: dict[str, list[Obj]] = {
        kind: [o for o in objects.get(kind, ()) if _name(o)] for kind in NAMESPACE_KINDS
    }
    for kind, items in by_kind.items():
        for obj in items:
            b.add(kind, _name(obj), namespace, _status_metadata(kind, obj))

    # owns: ownerReferences naming a listed owner.
    controlled: set[str] = set()
    for kind, items in by_kind.items():
        for obj in items:
            child = node_id(kind, _name(obj), namespace)
            for owner in _list(_meta(obj).get("ownerReferences")):
                owner = _dict(owner)
                parent = node_id(str(owner.get("kind", "")), str(owner.get("name", "")), namespace)
                if owner.get("controller"):
                    controlled.add(child)
                if parent in b.nodes:
                    b.edge("owns", parent, child)

    pods = _Pods(by_kind["Pod"], namespace)
    # selects: Services by their selector map; workloads' selectors for orphan Pods. The
    # label index narrows the Pods to those carrying every matchLabels pair; the selector
    # itself has the final word (matchExpressions, empty selectors).
    for service in by_kind["Service"]:
        selector = _dict(_dict(service.get("spec")).get("selector"))
        if not selector:
            continue
        source = node_id("Service", _name(service), namespace)
        for index in pods.carrying(selector):
            if service_selects(selector, pods.labels[index]):
                b.edge("selects", source, pods.ids[index])
    orphans = {i for i, pod_id in enumerate(pods.ids) if pod_id not in controlled}
    for kind in SELECTING_WORKLOADS:
        for workload in by_kind[kind]:
            selector = _dict(_dict(workload.get("spec")).get("selector"))
            if not orphans or not selector:
                continue
            source = node_id(kind, _name(workload), namespace)
            for index in pods.carrying(_dict(selector.get("matchLabels")), orphans):
                if selector_matches(selector, pods.labels[index]):
                    b.edge("selects", source, pods.ids[index])

    # mounts and uses.
    for pod, source in zip(by_kind["Pod"], pods.ids, strict=True):
        for kind, name in sorted(_pod_references(pod)):
            if kind == "Secret":
                target = b.ensure(kind, name, namespace, referenced_only=True)
            else:
                target = b.ensure(kind, name, namespace)
            b.edge("mounts", source, target)
        spec = _dict(pod.get("spec"))
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        b.edge("uses", source, b.ensure("ServiceAccount", str(account), namespace))

    # routes.
    for ingress in by_kind["Ingress"]:
        source = node_id("Ingress", _name(ingress), namespace)
        for name in sorted(_ingress_services(ingress)):
            b.edge("routes", source, b.ensure("Service", name, namespace))

    return Diagram(
        nodes=sorted(b.nodes.values(), key=lambda n: n.id),
        edges=sorted(b.edges.values(), key=lambda e: e.id),
        groups=_groups(b),
    )


def _children(edges: Iterable[Edge]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for edge in edges:
        if edge.kind == "owns":
            children.setdefault(edge.source, []).append(edge.target)
    return children


def _descendants(root: str, children: Mapping[str, list[str]]) -> list[str]:
    seen: list[str] = []
    stack = [root]
    while stack:
        current = stack.pop()
        for child in children.get(current, ()):
            if child not in seen and child != root:
                seen.append(child)
                stack.append(child)
    return seen


def _groups(b: _Builder) -> list[Group]:
    """One group per top-level workload: the workload and everything it owns, transitively."""
    children = _children(b.edges.values())
    owned = {e.target for e in b.edges.values() if e.kind == "owns"}
    groups = []
    for node in sorted(b.nodes.values(), key=lambda n: n.id):
        if node.kind in WORKLOAD_ROOT_KINDS and node.id not in owned:
            members = [node.id, *sorted(_descendants(node.id, children))]
            groups.append(Group(id=f"group:{node.id}", label=node.name, members=members))
    return groups


def workload_diagram(full: Diagram, root: str) -> Diagram:
    """``full`` restricted to ``root``, what it owns (transitively), the Pods it selects, and
    what those select/mount/use, the Services selecting them and the Ingresses routing there."""
    children = _children(full.edges)
    subtree = {root, *_descendants(root, children)}
    subtree |= {e.target for e in full.edges if e.kind == "selects" and e.source in subtree}
    keep = set(subtree)
    for edge in full.edges:
        if edge.source in subtree and edge.kind in ("mounts", "uses"):
            keep.add(edge.target)
        if edge.target in subtree and edge.kind == "selects":
            keep.add(edge.source)
    services = {n for n in keep if n.startswith("Service/")}
    keep |= {e.source for e in full.edges if e.kind == "routes" and e.target in services}
    nodes = [n for n in full.nodes if n.id in keep]
    edges = [e for e in full.edges if e.source in keep and e.target in keep]
    groups = [
        Group(id=g.id, label=g.label, members=[m for m in g.members if m in keep])
        for g in full.groups
        if g.id == f"group:{root}"
    ]
    return Diagram(nodes=nodes, edges=edges, groups=groups)


# --- RBAC -------------------------------------------------------------------------------


class Rbac(msgspec.Struct):
    """The cluster's RBAC objects (roles and bindings of every namespace)."""

    cluster_roles: list[Obj]
    cluster_role_bindings: list[Obj]
    roles: list[Obj]
    role_bindings: list[Obj]


def _subject_node(b: _Builder, subject: Mapping[str, Any], binding_ns: str | None) -> str:
    kind = str(subject.get("kind", ""))
    name = str(subject.get("name", ""))
    if kind == "ServiceAccount":
        namespace = str(subject.get("namespace") or binding_ns or "")
        return b.add("Subject:ServiceAccount", name, namespace or None, {})
    return b.add(f"Subject:{kind}", name, None, {})


def _permissions(b: _Builder, role_id: str, rules: list[Any]) -> None:
    """One Permission node per (apiGroup, resource) (or non-resource URL) of ``rules``."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for rule in rules:
        rule = _dict(rule)
        verbs = [str(v) for v in _list(rule.get("verbs"))]
        names = [str(n) for n in _list(rule.get("resourceNames"))]
        targets = [
            (str(g), str(r))
            for g in (_list(rule.get("apiGroups")) or [""])
            for r in _list(rule.get("resources"))
        ]
        targets += [("", f"url:{u}") for u in _list(rule.get("nonResourceURLs"))]
        for target in targets:
            entry = merged.setdefault(target, {"verbs": set(), "names": set(), "all": False})
            entry["verbs"].update(verbs)
            if names:
                entry["names"].update(names)
            else:
                entry["all"] = True
    for (group, resource), entry in sorted(merged.items()):
        label = resource if not group or group == "*" else f"{resource}.{group}"
        if group == "*":
            label = f"{resource} (all groups)"
        meta: dict[str, Any] = {
            "apiGroup": group,
            "resource": resource.removeprefix("url:"),
            "verbs": sorted(entry["verbs"]),
            "resourceNames": [] if entry["all"] else sorted(entry["names"]),
        }
        if resource.startswith("url:"):
            meta["nonResourceURL"] = True
            label = resource.removeprefix("url:")
        # Permission ids are per role: two roles granting the same thing stay two nodes.
        pid = f"Permission/{role_id}/{group}/{resource}"
        b.nodes[pid] = Node(id=pid, kind="Permission", name=label, metadata=meta)
        b.edge("grants", role_id, pid)


def role_diagram(rbac: Rbac, kind: str, name: str, namespace: str | None) -> Diagram | None:
    """The graph of one Role (``namespace`` given) or ClusterRole; ``None`` when absent."""
    roles = rbac.roles if kind == "Role" else rbac.cluster_roles
    role = next(
        (
            r
            for r in roles
            if _name(r) == name
            and (kind == "ClusterRole" or _meta(r).get("namespace") == namespace)
        ),
        None,
    )
    if role is None:
        return None
    b = _Builder()
    meta: dict[str, Any] = {"rules": len(_list(role.get("rules")))}
    if role.get("aggregationRule"):
        meta["aggregated"] = True
    role_id = b.add(kind, name, namespace if kind == "Role" else None, meta)
    _permissions(b, role_id, _list(role.get("rules")))
    bindings: list[tuple[str, Obj]] = [("RoleBinding", rb) for rb in rbac.role_bindings]
    if kind == "ClusterRole":
        bindings += [("ClusterRoleBinding", crb) for crb in rbac.cluster_role_bindings]
    for binding_kind, binding in bindings:
        ref = _dict(binding.get("roleRef"))
        binding_ns = _meta(binding).get("namespace") if binding_kind == "RoleBinding" else None
        if ref.get("kind") != kind or ref.get("name") != name:
            continue
        if kind == "Role" and binding_ns != namespace:
            continue
        bid = b.add(binding_kind, _name(binding), binding_ns, {})
        b.edge("binds", bid, role_id)
        for subject in _list(binding.get("subjects")):
            b.edge("subject", bid, _subject_node(b, _dict(subject), binding_ns))
    return Diagram(
        nodes=sorted(b.nodes.values(), key=lambda n: n.id),
        edges=sorted(b.edges.values(), key=lambda e: e.id),
        groups=[],
    )


def role_listing(rbac: Rbac) -> dict[str, list[dict[str, str]]]:
    return {
        "cluster_roles": [{"name": n} for n in sorted({_name(r) for r in rbac.cluster_roles})],
        "roles": [
            {"namespace": ns, "name": n}
            for ns, n in sorted(
                {(str(_meta(r).get("namespace", "")), _name(r)) for r in rbac.roles}
            )
        ],
    }


# --- who-can ----------------------------------------------------------------------------


class Ref(msgspec.Struct, omit_defaults=True):
    kind: str
    name: str
    namespace: str | None = None


class Grant(msgspec.Struct):
    subject: Ref
    binding: Ref
    role: Ref
    scope: str
    """``cluster`` for a ClusterRoleBinding, else the RoleBinding's namespace."""
    api_groups: list[str]
    resource_names: list[str]
    """Empty: any object; otherwise the grant only covers these names."""


class WhoCan(msgspec.Struct):
    verb: str
    resource: str
    api_group: str | None
    namespace: str | None
    grants: list[Grant]


def _rule_matches(rule: Mapping[str, Any], verb: str, group: str | None, resource: str) -> bool:
    verbs = {str(v) for v in _list(rule.get("verbs"))}
    if verb not in verbs and "*" not in verbs:
        return False
    groups = {str(g) for g in _list(rule.get("apiGroups"))}
    if group is not None and group not in groups and "*" not in groups:
        return False
    if group is None and not groups:
        return False
    resources = {str(r) for r in _list(rule.get("resources"))}
    if resource in resources or "*" in resources:
        return True
    if "/" in resource:
        return "*/" + resource.split("/", 1)[1] in resources
    return False


def who_can(
    rbac: Rbac, verb: str, resource: str, api_group: str | None, namespace: str | None
) -> WhoCan:
    """Every (subject, binding, role) that grants ``verb`` on ``resource``.

    ``api_group`` ``None`` matches any group. With ``namespace``, ClusterRoleBindings and
    that namespace's RoleBindings count; without, all bindings (each with its scope).
    """
    cluster_roles = {_name(r): r for r in rbac.cluster_roles}
    roles = {(str(_meta(r).get("namespace", "")), _name(r)): r for r in rbac.roles}
    bindings: list[tuple[Obj, str | None]] = [(b, None) for b in rbac.cluster_role_bindings]
    for binding in rbac.role_bindings:
        in_ns = str(_meta(binding).get("namespace", ""))
        if namespace is None or in_ns == namespace:
            bindings.append((binding, in_ns))
    grants: list[Grant] = []
    for binding, binding_ns in bindings:
        ref = _dict(binding.get("roleRef"))
        ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
        if ref_kind == "ClusterRole":
            role = cluster_roles.get(ref_name)
        elif ref_kind == "Role" and binding_ns is not None:
            role = roles.get((binding_ns, ref_name))
        else:
            role = None
        if role is None:
            continue
        groups: set[str] = set()
        names: set[str] = set()
        unrestricted = False
        for rule in _list(role.get("rules")):
            rule = _dict(rule)
            if not _rule_matches(rule, verb, api_group, resource):
                continue
            groups.update(str(g) for g in _list(rule.get("apiGroups")))
            rule_names = [str(n) for n in _list(rule.get("resourceNames"))]
            if rule_names:
                names.update(rule_names)
            else:
                unrestricted = True
        if not groups:
            continue
        binding_ref = Ref(
            kind="ClusterRoleBinding" if binding_ns is None else "RoleBinding",
            name=_name(binding),
            namespace=binding_ns,
        )
        role_ref = Ref(
            kind=ref_kind, name=ref_name, namespace=binding_ns if ref_kind == "Role" else None
        )
        for subject in _list(binding.get("subjects")):
            subject = _dict(subject)
            kind = str(subject.get("kind", ""))
            subject_ns = (
                str(subject.get("namespace") or binding_ns or "") or None
                if kind == "ServiceAccount"
                else None
            )
            grants.append(
                Grant(
                    subject=Ref(kind=kind, name=str(subject.get("name", "")), namespace=subject_ns),
                    binding=binding_ref,
                    role=role_ref,
                    scope="cluster" if binding_ns is None else binding_ns,
                    api_groups=sorted(groups),
                    resource_names=[] if unrestricted else sorted(names),
                )
            )
    grants.sort(key=lambda g: (g.subject.kind, g.subject.name, g.binding.kind, g.binding.name))
    return WhoCan(
        verb=verb, resource=resource, api_group=api_group, namespace=namespace, grants=grants
    )
