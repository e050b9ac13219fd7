"""Pod manifests: strip runtime fields, apply the offline fix, check an override's safety."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import yaml

from kubeward.core.k8s_keys import NestedTooDeeplyError, normalize
from kubeward.schemas.pod_failures import PodFailure

MiB = 1024 * 1024
_RUNTIME_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "ownerReferences",
    "managedFields",
    "generateName",
    "selfLink",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_UNITS = {
    "Ki": 1024,
    "Mi": MiB,
    "Gi": 1024 * MiB,
    "Ti": 1024 * 1024 * MiB,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMITS = {"cpu": "500m", "memory": "256Mi"}


class ManifestError(ValueError):
    """A manifest that is not one Pod."""


def load_pod(text: str) -> dict[str, Any]:
    """Parse YAML that must be exactly one Pod object, its field names in camelCase (the
    Kure agent writes the Python client's snake_case) and without null fields."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"Manifest is not valid YAML: {exc}") from exc
    except RecursionError:
        raise ManifestError("Manifest is nested too deeply") from None
    if len(docs) != 1:
        raise ManifestError("Manifest must contain exactly one object")
    try:
        pod = normalize(docs[0])
    except NestedTooDeeplyError as exc:
        raise ManifestError(f"Manifest is {exc}") from None
    if not isinstance(pod, dict) or pod.get("kind") != "Pod":
        raise ManifestError("Manifest must be a single Pod")
    if pod.get("apiVersion", "v1") != "v1":
        raise ManifestError("Manifest must be a v1 Pod")
    if not isinstance(pod.get("metadata", {}), dict) or not isinstance(pod.get("spec"), dict):
        raise ManifestError("Manifest must have metadata and spec objects")
    containers = pod["spec"].get("containers")
    if not isinstance(containers, list) or not containers:
        raise ManifestError("Manifest must have at least one container")
    if not all(isinstance(c, dict) for c in containers):
        raise ManifestError("Manifest containers must be objects")
    clean: dict[str, Any] = _without_nulls(pod)
    return clean


def _without_nulls(value: Any) -> Any:
    """``to_dict()`` writes every unset field as ``null``: drop them (and nothing else)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def dump(pod: dict[str, Any]) -> str:
    """YAML text of a manifest (keys in their given order)."""
    return yaml.safe_dump(pod, sort_keys=False, default_flow_style=False)


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    found: list[dict[str, Any]] = []
    for key in ("initContainers", "containers"):
        found += [c for c in spec.get(key) or [] if isinstance(c, dict)]
    return found


def strip_runtime(pod: dict[str, Any]) -> dict[str, Any]:
    """A copy without what the cluster set on the original (status, ids, owner, node,
    service-account token volumes)."""
    pod = copy.deepcopy(pod)
    pod["apiVersion"] = "v1"
    pod["kind"] = "Pod"
    pod.pop("status", None)
    meta = pod.setdefault("metadata", {})
    for key in _RUNTIME_METADATA:
        meta.pop(key, None)
    labels = meta.get("labels")
    if isinstance(labels, dict):
        labels.pop("pod-template-hash", None)
        labels.pop("controller-revision-hash", None)
    spec = pod.setdefault("spec", {})
    spec.pop("nodeName", None)
    tokens = {
        v.get("name")
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and str(v.get("name", "")).startswith("kube-api-access-")
    }
    if tokens:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in tokens]
        if not spec["volumes"]:
            spec.pop("volumes")
        for c in _containers(pod):
            mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") not in tokens]
            if mounts:
                c["volumeMounts"] = mounts
            else:
                c.pop("volumeMounts", None)
    return pod


def parse_quantity(value: object) -> int | None:
    """Bytes of a memory quantity (``512Mi``, ``1G``, ``1e9``), ``None`` if unreadable."""
    text = str(value).strip()
    match = re.fullmatch(r"([0-9.]+(?:[eE][0-9]+)?)([KMGT]i?|k)?", text)
    if not match:
        return None
    try:
        number = float(match.group(1))
    except ValueError:
        return None
    return int(number * _UNITS.get(match.group(2) or "", 1))


def mi(value: int) -> str:
    """A byte count as whole ``Mi`` (rounded up)."""
    return f"{math.ceil(value / MiB)}Mi"


def _oom_containers(failure: PodFailure) -> set[str]:
    names = {
        s.name or "" for s in failure.container_statuses if "OOMKilled" in (s.reason, s.last_reason)
    }
    if failure.failure_reason == "OOMKilled" or failure.analyzer == "oom" or names:
        return names or {"*"}
    return set()


def offline_fix(pod: dict[str, Any], failure: PodFailure) -> tuple[dict[str, Any], str]:
    """Apply what the offline diagnosis knows how to fix; explain it, and what it cannot."""
    pod = copy.deepcopy(pod)
    changes: list[str] = []
    notes: list[str] = []
    oom = _oom_containers(failure)
    for c in pod["spec"].get("containers") or []:
        name = str(c.get("name", ""))
        resources = c.setdefault("resources", {})
        limits = resources.setdefault("limits", {})
        requests = resources.setdefault("requests", {})
        if oom and ("*" in oom or name in oom):
            old = parse_quantity(limits.get("memory", "")) if "memory" in limits else None
            base = old or parse_quantity(requests.get("memory", "")) or 128 * MiB
            new = max(2 * base, base + 64 * MiB)
            limits["memory"] = mi(new)
            if parse_quantity(requests.get("memory", "")) is None:
                requests["memory"] = mi(base)
            was = limits_text(old)
            changes.append(
                f"Raised the memory limit of container `{name}` from {was} to {mi(new)} "
                "after it was OOMKilled."
            )
        added: list[str] = []
        for key, value in DEFAULT_REQUESTS.items():
            if key not in requests:
                requests[key] = value
                added.append(f"{key} request {value}")
        for key, value in DEFAULT_LIMITS.items():
            if key not in limits:
                limits[key] = value
                added.append(f"{key} limit {value}")
        if added:
            changes.append(
                f"Added missing resource settings to container `{name}`: {', '.join(added)}."
            )
    reason = " ".join(
        filter(None, [failure.failure_reason, failure.failure_message, failure.analyzer or ""])
    )
    text = f"{reason} {failure.solution} {failure.logs}"
    if re.search(r"ImagePull|ErrImage|not found|manifest unknown", reason, re.I) or (
        failure.analyzer in ("image_pull", "image-pull")
    ):
        notes.append(
            "The image could not be pulled. The correct image tag cannot be guessed: set the "
            "tag (or registry credentials) yourself in the manifest before deploying."
        )
    env = re.search(
        r"(?:KeyError: '([A-Z_][A-Z0-9_]*)'|environment variable[ \"'`]*([A-Z_][A-Z0-9_]*))",
        text,
    )
    if env or (failure.analyzer or "").endswith("env"):
        var = (env.group(1) or env.group(2)) if env else "a required variable"
        notes.append(
            f"The container exits because the environment variable {var} is missing. Its "
            "value cannot be guessed: add it under `env` (or from a Secret/ConfigMap) in the "
            "manifest before deploying."
        )
    lines = ["## Changes Made"]
    lines += [f"{i}. {c}" for i, c in enumerate(changes, 1)] or ["No automatic change applies."]
    if notes:
        lines += ["", "## Needs your input"] + [f"- {n}" for n in notes]
    lines += ["", "Offline fix (no LLM configured or the LLM's answer was unusable)."]
    return pod, "\n".join(lines)


def limits_text(old: int | None) -> str:
    """How the old limit reads in an explanation."""
    return "none" if old is None else mi(old)


_FENCE = re.compile(r"```(?:ya?ml)?[ \t]*\n(.*?)```", re.S)


def from_llm(answer: str) -> tuple[dict[str, Any], str]:
    """The Pod manifest in an LLM answer's first YAML block, and the rest as explanation."""
    match = _FENCE.search(answer)
    if match is None:
        raise ManifestError("The LLM's answer has no YAML block")
    pod = load_pod(match.group(1))
    explanation = (answer[: match.start()] + answer[match.end() :]).strip()
    return pod, explanation or "Fix proposed by the LLM."


def _has_cap_adds(pod: dict[str, Any]) -> set[str]:
    caps: set[str] = set()
    for c in _containers(pod):
        sc = c.get("securityContext") or {}
        caps |= {str(x) for x in ((sc.get("capabilities") or {}).get("add") or [])}
    return caps


def _privileged(pod: dict[str, Any]) -> bool:
    return any((c.get("securityContext") or {}).get("privileged") is True for c in _containers(pod))


def _host_paths(pod: dict[str, Any]) -> set[str]:
    return {
        str((v.get("hostPath") or {}).get("path"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if isinstance(v, dict) and v.get("hostPath")
    }


def escalation(original: dict[str, Any], override: dict[str, Any]) -> str | None:
    """Why ``override`` asks for more host access than ``original`` had, or ``None``."""
    if _privileged(override) and not _privileged(original):
        return "The manifest adds a privileged container, which the original pod did not have"
    extra = _host_paths(override) - _host_paths(original)
    if extra:
        return f"The manifest adds hostPath volumes the original pod did not have: {sorted(extra)}"
    spec, was = override.get("spec") or {}, original.get("spec") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True and was.get(key) is not True:
            return f"The manifest sets {key}, which the original pod did not have"
    caps = _has_cap_adds(override) - _has_cap_adds(original)
    if caps:
        return f"The manifest adds capabilities the original pod did not have: {sorted(caps)}"
    return None
