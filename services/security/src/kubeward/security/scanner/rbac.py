"""RBAC: rules of Roles and ClusterRoles, subjects and roleRefs of bindings.

Checks on named resources (secrets, pods/exec, ...) count a wildcard verb but not a
wildcard resource: ``resources: ['*']`` is reported once, as such, not as every resource
it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubeward.security.scanner import catalog as checks
from kubeward.security.scanner.base import Target, as_list, as_map, as_str, finding
from kubeward.security.scanner.model import CheckInfo, Finding

ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})

_CORE = frozenset({"", "*"})
_WORKLOAD_GROUPS = frozenset({"", "*", "apps", "batch", "extensions"})
_READ = frozenset({"get", "list", "watch", "*"})
_LIST_WATCH = frozenset({"list", "watch", "*"})
_CREATE = frozenset({"create", "*"})
_EXEC_VERBS = frozenset({"create", "get", "*"})
"""``get`` too: before Kubernetes 1.30 a WebSocket exec needed only ``get``."""
_WORKLOADS = frozenset(
    {
        "pods",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
    }
)
_ESCALATION_VERBS = ("escalate", "bind", "impersonate")


def _strings(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]


class _Rule:
    __slots__ = ("groups", "index", "names", "path", "resources", "verbs")

    def __init__(self, index: int, rule: Any) -> None:
        self.index = index
        self.path = f"rules[{index}]"
        self.verbs = frozenset(v.lower() for v in _strings(rule.get("verbs")))
        self.resources = frozenset(r.lower() for r in _strings(rule.get("resources")))
        self.groups = frozenset(_strings(rule.get("apiGroups")))
        self.names = _strings(rule.get("resourceNames"))

    def in_groups(self, groups: frozenset[str]) -> bool:
        # apiGroups missing entirely is invalid; read it as the core group.
        return not self.groups or bool(self.groups & groups)


def _rule_finding(
    info: CheckInfo, target: Target, rule: _Rule, message: str, field: str, **extra: Any
) -> Finding:
    return finding(
        info,
        target,
        f"{target.label()} rule {rule.index}: {message}",
        f"{rule.path}.{field}",
        {"rule": rule.index, "field": f"{rule.path}.{field}", **extra},
    )


def _check_rule(target: Target, rule: _Rule) -> Iterator[Finding]:
    if "*" in rule.verbs:
        yield _rule_finding(
            checks.RBAC_WILDCARD_VERBS, target, rule, "grants all verbs ('*').", "verbs"
        )
    if "*" in rule.resources:
        yield _rule_finding(
            checks.RBAC_WILDCARD_RESOURCES, target, rule, "grants all resources ('*').", "resources"
        )
    if "*" in rule.groups:
        yield _rule_finding(
            checks.RBAC_WILDCARD_API_GROUPS,
            target,
            rule,
            "grants all API groups ('*').",
            "apiGroups",
        )
    core = rule.in_groups(_CORE)
    if core and "secrets" in rule.resources:
        verbs = rule.verbs & _READ
        if verbs and (not rule.names or rule.verbs & _LIST_WATCH):
            yield _rule_finding(
                checks.RBAC_SECRETS,
                target,
                rule,
                f"can {'/'.join(sorted(verbs))} secrets.",
                "resources",
                resource="secrets",
                verbs=sorted(verbs),
            )
    if core and rule.verbs & _EXEC_VERBS:
        sub = sorted(rule.resources & {"pods/exec", "pods/attach"})
        if sub:
            yield _rule_finding(
                checks.RBAC_POD_EXEC,
                target,
                rule,
                f"can use {', '.join(sub)} (exec into pods).",
                "resources",
                resources=sub,
            )
    escalation = [v for v in _ESCALATION_VERBS if v in rule.verbs]
    if escalation:
        yield _rule_finding(
            checks.RBAC_ESCALATION_VERBS,
            target,
            rule,
            f"grants the {', '.join(escalation)} verb{'s' if len(escalation) > 1 else ''}.",
            "verbs",
            verbs=escalation,
        )
    if rule.verbs & _CREATE and rule.in_groups(_WORKLOAD_GROUPS):
        created = sorted(rule.resources & _WORKLOADS)
        if created:
            yield _rule_finding(
                checks.RBAC_CREATE_PODS,
                target,
                rule,
                f"can create {', '.join(created)}.",
                "resources",
                resources=created,
            )
    if core and rule.verbs and "nodes/proxy" in rule.resources:
        yield _rule_finding(
            checks.RBAC_NODES_PROXY,
            target,
            rule,
            f"can {'/'.join(sorted(rule.verbs))} nodes/proxy (the kubelet API).",
            "resources",
            resource="nodes/proxy",
        )
    if core and rule.verbs & _CREATE and "serviceaccounts/token" in rule.resources:
        yield _rule_finding(
            checks.RBAC_SA_TOKEN,
            target,
            rule,
            "can create serviceaccounts/token (mint tokens).",
            "resources",
            resource="serviceaccounts/token",
        )


def check_role(obj: Any, target: Target) -> Iterator[Finding]:
    """Every rule of a Role or ClusterRole."""
    for i, rule in enumerate(as_list(obj.get("rules"))):
        if isinstance(rule, dict):
            yield from _check_rule(target, _Rule(i, rule))


# Default bindings of every cluster: discovery roles for everyone, cluster-admin for masters.
_HARMLESS_PUBLIC_ROLES = frozenset(
    {"system:basic-user", "system:discovery", "system:public-info-viewer"}
)
_ANONYMOUS = (("User", "system:anonymous"), ("Group", "system:unauthenticated"))


def _subject(value: Any) -> tuple[str, str, str]:
    subject = as_map(value)
    return (
        as_str(subject.get("kind")),
        as_str(subject.get("name")),
        as_str(subject.get("namespace")),
    )


def check_binding(obj: Any, target: Target) -> Iterator[Finding]:
    """roleRef cluster-admin; subjects anonymous, unauthenticated or all authenticated."""
    role_ref = as_map(obj.get("roleRef"))
    role = as_str(role_ref.get("name"))
    subjects = [_subject(s) for s in as_list(obj.get("subjects"))]
    names = [f"{kind} {name}" for kind, name, _ in subjects if name]
    if (
        role == "cluster-admin"
        and as_str(role_ref.get("kind")) in ("ClusterRole", "")
        and (not subjects or any((k, n) != ("Group", "system:masters") for k, n, _ in subjects))
    ):
        yield finding(
            checks.CLUSTER_ADMIN_BINDING,
            target,
            f"{target.label()} binds cluster-admin to "
            f"{', '.join(names) or 'no subjects'}"
            + (" (in its namespace)." if target.kind == "RoleBinding" else "."),
            "roleRef.name",
            {"field": "roleRef.name", "role": role, "subjects": names},
        )
    if role in _HARMLESS_PUBLIC_ROLES:
        return
    for i, (kind, name, _) in enumerate(subjects):
        if (kind, name) in _ANONYMOUS:
            info = checks.ANONYMOUS_BINDING
            who = "anyone, without credentials"
        elif (kind, name) == ("Group", "system:authenticated"):
            info = checks.AUTHENTICATED_BINDING
            who = "every authenticated user and service account"
        else:
            continue
        yield finding(
            info,
            target,
            f'{target.label()} grants {role_ref.get("kind") or "role"} "{role}" to {kind} '
            f"{name}: {who}.",
            f"subjects[{i}].name",
            {"field": f"subjects[{i}].name", "subject": name, "role": role},
        )


RBAC_CHECKS: dict[str, Callable[[Any, Target], Iterator[Finding]]] = {
    "Role": check_role,
    "ClusterRole": check_role,
    "RoleBinding": check_binding,
    "ClusterRoleBinding": check_binding,
}
