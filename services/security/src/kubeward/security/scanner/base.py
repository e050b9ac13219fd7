"""Shared helpers: tolerant accessors and the resource a finding is about."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NamedTuple

from kubeward.schemas.security import CLUSTER_SCOPE
from kubeward.security.scanner.model import CheckInfo, Finding

EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
NO_ITEMS: tuple[Any, ...] = ()

CLUSTER_SCOPED_KINDS = frozenset(
    {"ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "PersistentVolume"}
)


def as_map(value: Any) -> Any:
    """``value`` if it is a dict, else an empty mapping (manifests hold nulls and junk)."""
    return value if isinstance(value, dict) else EMPTY


def as_list(value: Any) -> Any:
    """``value`` if it is a list, else an empty sequence."""
    return value if isinstance(value, list) else NO_ITEMS


def as_str(value: Any) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


class Target(NamedTuple):
    """The object a finding is about."""

    kind: str
    name: str
    namespace: str

    @classmethod
    def of(cls, obj: Any) -> Target:
        """The kind, name and namespace of a (normalised) object."""
        kind = as_str(obj.get("kind"))
        meta = as_map(obj.get("metadata"))
        name = as_str(meta.get("name"))
        if kind in CLUSTER_SCOPED_KINDS:
            namespace = CLUSTER_SCOPE
        else:
            namespace = as_str(meta.get("namespace")) or "default"
        return cls(kind, name, namespace)

    def label(self) -> str:
        """How messages name the object: ``Deployment "web"``."""
        return f'{self.kind} "{self.name}"'


def finding(
    info: CheckInfo,
    target: Target,
    message: str,
    json_path: str,
    details: dict[str, Any],
    remediation: str | None = None,
) -> Finding:
    """A finding of check ``info`` about ``target``."""
    return Finding(
        check=info.id,
        title=info.title,
        severity=info.severity,
        category=info.category,
        message=message,
        remediation=remediation or info.remediation,
        json_path=json_path,
        resource_type=target.kind,
        resource_name=target.name,
        namespace=target.namespace,
        details=details,
    )
