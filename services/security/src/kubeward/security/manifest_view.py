"""A finding's manifest as Kure's dashboard shows it (``GET /api/security/findings/{id}/manifest``).

The scanner attaches the resource's YAML to each finding; Kure answers it cleaned of what
the cluster assigned (``status``, ``managedFields``, ``uid``, scheduler fields, the
auto-injected service-account volume ...), so what is shown is what a user would apply.
Findings of the built-in scanner have no text of their own: their resource's stored
manifest is rendered instead.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_METADATA_RUNTIME = frozenset(
    {
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generateName",
        "generation",
        "resourceVersion",
        "selfLink",
        "uid",
        "managedFields",
        "ownerReferences",
        "finalizers",
    }
)
_SPEC_RUNTIME = frozenset(
    {"nodeName", "priority", "preemptionPolicy", "enableServiceLinks", "schedulerName"}
)
_CONTAINER_RUNTIME = frozenset({"terminationMessagePath", "terminationMessagePolicy"})
_DEFAULT_TOLERATIONS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
_INJECTED_VOLUMES = ("kube-api-access-", "default-token-")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _drop(mapping: dict[str, Any], names: frozenset[str]) -> None:
    for name in names:
        mapping.pop(name, None)
        mapping.pop(_snake(name), None)


def _injected(item: Any) -> bool:
    return isinstance(item, dict) and str(item.get("name", "")).startswith(_INJECTED_VOLUMES)


def _clean_pod_spec(spec: dict[str, Any]) -> None:
    _drop(spec, _SPEC_RUNTIME)
    for key in ("serviceAccountName", "service_account_name"):
        if spec.get(key) == "default":
            del spec[key]
    for key in ("priorityClassName", "priority_class_name"):
        if key in spec and spec[key] in ("", None):
            del spec[key]
    tolerations = spec.get("tolerations")
    if isinstance(tolerations, list):
        kept = [
            t
            for t in tolerations
            if not isinstance(t, dict) or t.get("key") not in _DEFAULT_TOLERATIONS
        ]
        if kept:
            spec["tolerations"] = kept
        else:
            del spec["tolerations"]
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        kept = [v for v in volumes if not _injected(v)]
        if kept:
            spec["volumes"] = kept
        else:
            del spec["volumes"]
    for key in ("containers", "initContainers", "init_containers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            _drop(container, _CONTAINER_RUNTIME)
            for mounts in ("volumeMounts", "volume_mounts"):
                if isinstance(container.get(mounts), list):
                    kept = [m for m in container[mounts] if not _injected(m)]
                    if kept:
                        container[mounts] = kept
                    else:
                        del container[mounts]


def clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Kubernetes object without what the cluster assigned. Pod templates of
    workloads are cleaned like a Pod's spec."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        _drop(metadata, _METADATA_RUNTIME)
    spec = out.get("spec")
    if isinstance(spec, dict):
        template = spec.get("template")
        job = spec.get("jobTemplate") or spec.get("job_template")
        if isinstance(job, dict) and isinstance(job.get("spec"), dict):
            template = job["spec"].get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            _clean_pod_spec(template["spec"])
        elif out.get("kind") == "Pod" or "containers" in spec:
            _clean_pod_spec(spec)
    return out


def render(obj: Mapping[str, Any]) -> str:
    """YAML of the cleaned object (block style, keys sorted, as Kure's answer)."""
    text: str = yaml.safe_dump(clean(obj), default_flow_style=False, sort_keys=True)
    return text


def render_text(text: str) -> str:
    """The scanner's manifest text, cleaned; text that is not one YAML (or JSON) mapping is
    returned as it is (Kure does the same)."""
    try:
        obj = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return text
    if not isinstance(obj, dict):
        return text
    return render(obj)
