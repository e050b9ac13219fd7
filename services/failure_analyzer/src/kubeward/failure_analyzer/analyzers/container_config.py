"""CreateContainerConfigError: env from missing Secrets/ConfigMaps or keys, runAsNonRoot."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    evidence,
    from_message,
    kubectl,
    make,
    rollout_checks,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import Container, ReportView, as_dict

_EVENTS = ("Failed", "CreateContainerConfigError")
_OBJECT = re.compile(r"\b(?P<kind>secret|configmap) \"(?P<name>[^\"]+)\" not found")
_KEY = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>Secret|ConfigMap) (?P<ns>[^/\s]+)/(?P<name>\S+)"
)
_NON_ROOT = re.compile(
    r"container has runAsNonRoot and image (?:will run as root|has non-numeric user "
    r"\((?P<user>[^)]*)\))"
)


def _env_refs(view: ReportView, kind: str, name: str, key: str | None = None) -> list[str]:
    """``container: ENV`` (or ``container: envFrom``) entries referring to the object."""
    ref_key = "secretKeyRef" if kind == "secret" else "configMapKeyRef"
    from_key = "secretRef" if kind == "secret" else "configMapRef"
    out: list[str] = []
    for container in (*view.init_containers, *view.containers):
        for entry in container.env:
            ref = as_dict(as_dict(entry.get("valueFrom")).get(ref_key))
            if ref.get("name") == name and (key is None or ref.get("key") == key):
                out.append(f"{container.name}: {entry.get('name')}")
        if key is None:
            for entry in container.env_from:
                if as_dict(entry.get(from_key)).get("name") == name:
                    out.append(f"{container.name}: envFrom")
    return out


def _config_hit(view: ReportView) -> bool:
    return "CreateContainerConfigError" in view.reasons


def analyze_missing_env_object(view: ReportView) -> Finding | None:
    """Env/envFrom refers to a Secret or ConfigMap that does not exist."""
    if not _config_hit(view):
        return None
    hit = view.find_message(_OBJECT, events=_EVENTS)
    if hit is None:
        return None
    kind, name = hit.match.group("kind"), hit.match.group("name")
    label = "Secret" if kind == "secret" else "ConfigMap"
    refs = _env_refs(view, kind, name)
    create = (
        f"kubectl -n {view.namespace} create secret generic {name} --from-literal=<key>=<value>"
        if kind == "secret"
        else f"kubectl -n {view.namespace} create configmap {name} --from-literal=<key>=<value>"
    )
    return make(
        f"config.{kind}-not-found",
        f"{label} {name} not found (CreateContainerConfigError)",
        f"The container's environment refers to the {label} {code(name)}"
        + (f" ({', '.join(map(code, refs))})" if refs else "")
        + f", which does not exist in namespace {code(view.namespace)}; the kubelet cannot "
        "build the environment, so the container is never created.",
        (
            f"Create the {label} with the keys the pod expects:\n```bash\n{create}\n```",
            f"Or fix the name referenced in {code(view.owner_label)}; if the value is "
            "optional, mark the reference `optional: true`.",
        ),
        (kubectl(view, f"get {kind} {name}"), *rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.96,
    )


def analyze_missing_env_key(view: ReportView) -> Finding | None:
    """An env var refers to a key its Secret/ConfigMap does not have."""
    hit = view.find_message(_KEY, events=_EVENTS)
    if hit is None:
        return None
    key, name = hit.match.group("key"), hit.match.group("name")
    kind = hit.match.group("kind").lower()
    refs = _env_refs(view, kind, name, key)
    flag = "secret generic" if kind == "secret" else "configmap"
    return make(
        f"config.{kind}-key-not-found",
        f"Key {key} not found in {hit.match.group('kind')} {name}",
        f"The {hit.match.group('kind')} {code(name)} exists but has no key {code(key)}, "
        "which the container's environment needs"
        + (f" ({', '.join(map(code, refs))})" if refs else "")
        + ". The container cannot be created until the key exists.",
        (
            f"Add the key:\n```bash\nkubectl -n {view.namespace} patch {kind} {name} "
            f'--type merge -p \'{{"{"stringData" if kind == "secret" else "data"}":'
            f'{{"{key}":"<value>"}}}}\'\n```',
            f"Or reference the right key name in {code(view.owner_label)} "
            f"(`kubectl -n {view.namespace} create {flag} ... --dry-run=client -o yaml` shows "
            "what a recreated object would contain).",
        ),
        (
            kubectl(view, f"get {kind} {name} -o jsonpath='{{.data}}'"),
            *rollout_checks(view),
            events_cmd(view),
        ),
        (from_message(hit),),
        0.96,
    )


def _non_root_container(view: ReportView, text: str) -> Container | None:
    match = re.search(r"container: ([\w.\-]+)", text)
    return (
        view.container(match.group(1))
        if match
        else (view.containers[0] if view.containers else None)
    )


def analyze_run_as_non_root(view: ReportView) -> Finding | None:
    """``runAsNonRoot: true`` but the image runs as root (or a non-numeric user)."""
    hit = view.find_message(_NON_ROOT, events=_EVENTS)
    if hit is None:
        return None
    container = _non_root_container(view, hit.text)
    name = container.name if container else "app"
    image = container.image if container else "<image>"
    user = hit.match.group("user")
    problem = (
        f"the image's user {code(user)} is not numeric, so the kubelet cannot verify it is non-root"
        if user
        else "the image runs as root (UID 0)"
    )
    return make(
        "config.run-as-non-root",
        f"runAsNonRoot is set but {image} runs as root",
        f"Container {code(name)} has `runAsNonRoot: true` (its own or the pod's "
        f"securityContext), but {problem}; the kubelet refuses to start it.",
        (
            "Run it as a numeric non-root user:\n```yaml\nsecurityContext:\n  runAsNonRoot: "
            "true\n  runAsUser: 10001\n  runAsGroup: 10001\n```",
            f"Better, set a numeric `USER 10001` in the Dockerfile of {code(image)} and make "
            "the files it writes owned by that user.",
        ),
        (
            kubectl(view, f"get pod {view.pod} -o jsonpath='{{..securityContext}}'"),
            *rollout_checks(view),
        ),
        (from_message(hit),),
        0.95,
    )


def analyze_config_error(view: ReportView) -> Finding | None:
    """CreateContainerConfigError with a message no specific analyzer recognised."""
    if not _config_hit(view):
        return None
    if any(view.find_message(p, events=_EVENTS) for p in (_OBJECT, _KEY, _NON_ROOT)):
        return None
    status = next(
        (
            s
            for s in (*view.init_statuses, *view.statuses)
            if "CreateContainerConfigError" in s.reasons
        ),
        None,
    )
    message = (status.message if status else None) or view.failure_message or "(no message)"
    return make(
        "config.failed",
        "Container configuration invalid (CreateContainerConfigError)",
        f"The kubelet cannot build the configuration of container "
        f"{code(status.name if status else '?')}: {code(message[:200])}.",
        (
            "Check every `env[].valueFrom`, `envFrom`, `volumeMounts` and `securityContext` "
            "reference of the container against what exists in the namespace.",
            f"Read the events: `{events_cmd(view)}`.",
        ),
        (*rollout_checks(view), events_cmd(view)),
        (
            status_evidence(status) if status else None,
            evidence("message", "failure message", message),
        ),
        0.7,
    )
