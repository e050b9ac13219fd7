"""Crashes caused by missing configuration: env vars, config files, modules/classes."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    from_log,
    is_crashing,
    kubectl,
    log_finding_context,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import LogHit, ReportView, as_dict, as_str

_ENV_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"KeyError: '([A-Z][A-Z0-9_]{2,})'",
        r"(?i:environment variable|env var(?:iable)?|env)s?:? [\"'`]?([A-Z][A-Z0-9_]{2,})[\"'`]?"
        r" (?i:is )?(?i:not set|not defined|missing|required|must be (?:set|defined|provided)"
        r"|is empty|undefined)",
        r"(?i:missing|required|undefined|unset)(?i: required)? (?i:environment variable|env var"
        r"(?:iable)?)s?:? [\"'`]?([A-Z][A-Z0-9_]{2,})",
        r"required key ([A-Z][A-Z0-9_]{2,}) missing value",
        r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]+) (?:is not set|must be set|is required|is not defined|is "
        r"undefined|not provided|is missing)",
        r"Could not resolve placeholder '([\w.\-]+)'",
        r"validation errors? for \w*(?:Settings|Config)\s*\n\s*(\w+)\s*\n\s*Field required",
    )
)
_FILE_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"No such file or directory: '(/[^']+)'",
        r"ENOENT: no such file or directory, \w+ '([^']+)'",
        r"(?:open|stat|read|lstat|load) (/[^\s:'\"]+): no such file or directory",
        r"FileNotFoundException: (/\S+) \(No such file or directory\)",
        r"(?i:config(?:uration)? file) [\"'`]?(/[^\s\"'`]+)[\"'`]? (?:not found|does not exist|"
        r"is missing|missing)",
        r"(?i:config(?:uration)? file (?:not found|does not exist|missing)):? [\"'`]?"
        r"(/[^\s\"'`]+)",
    )
)
_MODULE_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"Cannot find module '([^']+)'",
        r"ModuleNotFoundError: No module named '([^']+)'",
        r"ImportError: cannot import name '(\w+)'",
        r"ClassNotFoundException: ([\w.$]+)",
        r"Could not find or load main class ([\w.$]+)",
        r"error while loading shared libraries: ([^\s:]+)",
    )
)


def _first(view: ReportView, patterns: tuple[re.Pattern[str], ...]) -> LogHit | None:
    for pattern in patterns:
        hit = view.find_log(pattern)
        if hit is not None:
            return hit
    return None


def analyze_missing_env(view: ReportView) -> Finding | None:
    """The app exits because an environment variable it needs is not set."""
    if not view.logs or not is_crashing(view):
        return None
    hit = _first(view, _ENV_PATTERNS)
    if hit is None:
        return None
    var = hit.match.group(1)
    if var.islower():
        var = var.upper()
    name, status = log_finding_context(view, hit)
    container = view.container(name)
    owner = view.owner_label
    defined = None
    sources: list[str] = []
    if container is not None:
        for entry in container.env:
            if entry.get("name") == var:
                defined = entry
        for entry in container.env_from:
            for kind in ("configMapRef", "secretRef"):
                ref = as_str(as_dict(entry.get(kind)).get("name"))
                if ref:
                    sources.append(f"{'configmap' if kind == 'configMapRef' else 'secret'}/{ref}")
    if defined is not None:
        value_from = as_dict(defined.get("valueFrom"))
        where = ""
        for kind in ("secretKeyRef", "configMapKeyRef"):
            key_ref = as_dict(value_from.get(kind))
            if key_ref:
                where = (
                    f" from {'Secret' if kind == 'secretKeyRef' else 'ConfigMap'} "
                    f"{code(str(key_ref.get('name')))} key {code(str(key_ref.get('key')))}"
                )
        state = (
            f"The container spec does set {code(var)}{where}, but the value the app "
            "received is empty or not what it accepts."
        )
    elif sources:
        state = (
            f"{code(var)} is not in the container's `env`; it could only come from "
            f"`envFrom` ({', '.join(code(s) for s in sources)}), which has no such key."
        )
    elif container is not None:
        state = f"The container spec of {code(name)} does not define {code(var)}."
    else:
        state = f"Make sure {code(var)} is defined for container {code(name)}."
    return make(
        "crash.missing-env",
        f"Missing environment variable {var} in container {name}",
        f"Container {code(name)} exits at startup because the environment variable "
        f"{code(var)} is not set (log: {code(hit.line[:160])}). {state}",
        (
            f"Set {code(var)} on {code(owner)}:\n```bash\nkubectl -n {view.namespace} set env "
            f"{owner} -c {name} {var}=<value>\n```",
            f"If it is a secret, store it in a Secret and reference it:\n```bash\n"
            f"kubectl -n {view.namespace} create secret generic {name}-env "
            f"--from-literal={var}=<value>\n"
            f"kubectl -n {view.namespace} set env {owner} -c {name} --from=secret/{name}-env "
            f"--keys={var}\n```",
        ),
        (
            kubectl(view, f"set env {owner} -c {name} --list | grep {var}"),
            *crash_checks(view, name),
        ),
        (from_log(hit), status_evidence(status) if status else None),
        0.92,
    )


def _mount_for(view: ReportView, container_name: str, path: str) -> tuple[str, str] | None:
    """(mountPath, volume description) of the mount containing ``path``."""
    container = view.container(container_name)
    if container is None:
        return None
    for mount in container.volume_mounts:
        mount_path = as_str(mount.get("mountPath")) or ""
        if mount_path and (path == mount_path or path.startswith(mount_path.rstrip("/") + "/")):
            volume_name = as_str(mount.get("name")) or "?"
            described = f"volume {code(volume_name)}"
            for volume in view.volumes:
                if volume.get("name") != volume_name:
                    continue
                for kind, label in (("configMap", "ConfigMap"), ("secret", "Secret")):
                    source = as_dict(volume.get(kind))
                    ref = as_str(source.get("name")) or as_str(source.get("secretName"))
                    if ref:
                        described += f" ({label} {code(ref)})"
            return mount_path, described
    return None


def analyze_missing_file(view: ReportView) -> Finding | None:
    """The app exits because a config file (or other path) it opens does not exist."""
    if not view.logs or not is_crashing(view):
        return None
    hit = _first(view, _FILE_PATTERNS)
    if hit is None:
        return None
    path = hit.match.group(1)
    name, status = log_finding_context(view, hit)
    owner = view.owner_label
    mount = _mount_for(view, name, path)
    directory = path.rsplit("/", 1)[0] or "/"
    filename = path.rsplit("/", 1)[-1]
    if mount is not None:
        state = (
            f"{code(mount[0])} is mounted from {mount[1]}, but it has no entry "
            f"{code(path[len(mount[0]) :].lstrip('/') or filename)}: the ConfigMap/Secret "
            "key is missing or named differently, or `items`/`subPath` maps it elsewhere."
        )
        fix_first = (
            f"Add the missing key to the ConfigMap/Secret behind {mount[1]} (key "
            f"{code(filename)}), or fix the mount's `items`/`subPath`:\n```bash\n"
            f"kubectl -n {view.namespace} create configmap <name> --from-file={filename}="
            f"./{filename} --dry-run=client -o yaml | kubectl apply -f -\n```"
        )
    else:
        state = f"Nothing is mounted at {code(directory)} and the image does not contain it."
        fix_first = (
            f"Provide the file, e.g. from a ConfigMap mounted at {code(directory)}:\n```yaml\n"
            f"volumeMounts:\n- name: app-config\n  mountPath: {directory}\nvolumes:\n"
            f"- name: app-config\n  configMap:\n    name: <configmap-with-{filename}>\n```"
        )
    return make(
        "crash.missing-file",
        f"Missing file {path} in container {name}",
        f"Container {code(name)} exits because {code(path)} does not exist (log: "
        f"{code(hit.line[:160])}). {state}",
        (
            fix_first,
            f"Or point the app at the right path (its config-file flag or env var) in "
            f"{code(owner)}.",
        ),
        (
            kubectl(view, f"exec {view.pod} -c {name} -- ls -l {directory}")
            + "  # once it stays up",
            *crash_checks(view, name),
        ),
        (from_log(hit), status_evidence(status) if status else None),
        0.9,
    )


def analyze_missing_module(view: ReportView) -> Finding | None:
    """The app exits because a module, class or shared library is missing from the image."""
    if not view.logs or not is_crashing(view):
        return None
    hit = _first(view, _MODULE_PATTERNS)
    if hit is None:
        return None
    module = hit.match.group(1)
    name, status = log_finding_context(view, hit)
    container = view.container(name)
    image = container.image if container else (status.image if status else "<image>")
    return make(
        "crash.missing-module",
        f"Missing module {module} in image {image}",
        f"Container {code(name)} exits because {code(module)} cannot be loaded (log: "
        f"{code(hit.line[:160])}). The image {code(image or '<image>')} was built without "
        "it (dependency not installed, wrong build stage copied, wrong working directory "
        "or entrypoint).",
        (
            f"Add {code(module)} to the image's dependencies (package.json / requirements / "
            "pom) and make sure the final build stage copies them; rebuild and push a new tag.",
            f"Check the working directory and command the image runs: `docker run --rm "
            f"--entrypoint sh {image} -c 'pwd; ls'`.",
            f"Deploy the new tag: `kubectl -n {view.namespace} set image {view.owner_label} "
            f"{name}=<image>:<new-tag>`.",
        ),
        crash_checks(view, name),
        (from_log(hit), status_evidence(status) if status else None),
        0.9,
    )
