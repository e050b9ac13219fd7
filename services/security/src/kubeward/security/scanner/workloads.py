"""Pod security, resources, probes and images: Pods and the pod templates of workloads.

A :class:`Workload` is built once per object (where the pod spec is, its containers with
their json paths); every check then reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from kubeward.security.scanner import catalog as checks
from kubeward.security.scanner.base import Target, as_list, as_map, as_str, finding
from kubeward.security.scanner.images import TrustEntry, parse_image, trusts
from kubeward.security.scanner.model import Finding

# kind -> (path to the pod spec, its json path, path to the pod metadata); the metadata's
# json path is the pod spec's with "spec" replaced by "metadata".
_POD_SPEC: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "Pod": (("spec",), "spec", ("metadata",)),
    "CronJob": (
        ("spec", "jobTemplate", "spec", "template", "spec"),
        "spec.jobTemplate.spec.template.spec",
        ("spec", "jobTemplate", "spec", "template", "metadata"),
    ),
}
for _kind in (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "ReplicationController",
):
    _POD_SPEC[_kind] = (
        ("spec", "template", "spec"),
        "spec.template.spec",
        ("spec", "template", "metadata"),
    )

WORKLOAD_KINDS = frozenset(_POD_SPEC)
_RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})
_REPLICATED = frozenset({"Deployment", "StatefulSet"})
_CONTAINER_GROUPS = ("containers", "initContainers", "ephemeralContainers")


class Container(NamedTuple):
    """One container of the pod, where it is and its securityContext."""

    name: str
    spec: Any
    path: str
    """``spec.template.spec.containers[0]``."""
    group: str
    """``containers``, ``initContainers`` or ``ephemeralContainers``."""
    sc: Any
    """The container's securityContext (an empty mapping when absent)."""


class Workload(NamedTuple):
    """A pod spec with its surroundings."""

    target: Target
    pod: Any
    pod_path: str
    pod_sc: Any
    meta_path: str
    """``spec.template.metadata`` (``metadata`` for a Pod)."""
    annotations: Any
    containers: list[Container]
    run_to_completion: bool
    obj: Any


def workload(obj: Any, target: Target) -> Workload | None:
    """The pod spec of ``obj``, or ``None`` when the kind has none."""
    shape = _POD_SPEC.get(target.kind)
    if shape is None:
        return None
    spec_keys, pod_path, meta_keys = shape
    pod = obj
    for key in spec_keys:
        pod = as_map(pod.get(key))
    meta = obj
    for key in meta_keys:
        meta = as_map(meta.get(key))
    containers: list[Container] = []
    for group in _CONTAINER_GROUPS:
        for i, spec in enumerate(as_list(pod.get(group))):
            if not isinstance(spec, dict):
                continue
            containers.append(
                Container(
                    name=as_str(spec.get("name")) or f"#{i}",
                    spec=spec,
                    path=f"{pod_path}.{group}[{i}]",
                    group=group,
                    sc=as_map(spec.get("securityContext")),
                )
            )
    run_to_completion = target.kind in _RUN_TO_COMPLETION or (
        target.kind == "Pod"
        and (
            pod.get("restartPolicy") in ("Never", "OnFailure")
            or any(
                as_map(ref).get("kind") in _RUN_TO_COMPLETION
                for ref in as_list(as_map(obj.get("metadata")).get("ownerReferences"))
            )
        )
    )
    return Workload(
        target=target,
        pod=pod,
        pod_path=pod_path,
        pod_sc=as_map(pod.get("securityContext")),
        meta_path=pod_path[: -len("spec")] + "metadata",
        annotations=as_map(meta.get("annotations")),
        containers=containers,
        run_to_completion=run_to_completion,
        obj=obj,
    )


def _in(c: Container, w: Workload) -> str:
    return f'Container "{c.name}" in {w.target.label()}'


def _details(c: Container, field: str, **extra: Any) -> dict[str, Any]:
    return {"container": c.name, "field": f"{c.group}[{c.name}].{field}", **extra}


def _effective(w: Workload, c: Container, key: str) -> tuple[Any, str]:
    """A securityContext field as it applies to ``c``: the container's, else the pod's;
    with the json path it came from (the container's when set nowhere)."""
    value = c.sc.get(key)
    if value is not None:
        return value, f"{c.path}.securityContext.{key}"
    value = w.pod_sc.get(key)
    if value is not None:
        return value, f"{w.pod_path}.securityContext.{key}"
    return None, f"{c.path}.securityContext.{key}"


# --- Pod-level checks ------------------------------------------------------------------


def check_host_namespaces(w: Workload) -> Iterator[Finding]:
    """hostNetwork, hostPID, hostIPC."""
    for field, info, what in (
        ("hostNetwork", checks.HOST_NETWORK, "the node's network namespace"),
        ("hostPID", checks.HOST_PID, "the node's PID namespace"),
        ("hostIPC", checks.HOST_IPC, "the node's IPC namespace"),
    ):
        if w.pod.get(field) is True:
            yield finding(
                info,
                w.target,
                f"{w.target.label()} sets {field}: true and shares {what}.",
                f"{w.pod_path}.{field}",
                {"field": field},
            )


_SENSITIVE_EXACT = frozenset(
    {
        "/",
        "/etc",
        "/sys",
        "/dev",
        "/var",
        "/var/run",
        "/run",
        "/home",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/var/lib",
    }
)
_SENSITIVE_TREES = (
    "/proc",
    "/root",
    "/boot",
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/etcd",
    "/etc/shadow",
    "/etc/sudoers",
    "/etc/ssh",
)
_SOCKET_DIRS = ("/var/run/", "/run/")


def _clean_path(path: str) -> str:
    parts = [p for p in path.split("/") if p and p != "."]
    return "/" + "/".join(parts)


def sensitive_host_path(path: str) -> bool:
    """Whether mounting ``path`` from the node amounts to controlling the node."""
    clean = _clean_path(path)
    if clean in _SENSITIVE_EXACT:
        return True
    if any(clean == tree or clean.startswith(tree + "/") for tree in _SENSITIVE_TREES):
        return True
    return clean.endswith(".sock") and clean.startswith(_SOCKET_DIRS)


def check_host_path(w: Workload) -> Iterator[Finding]:
    """hostPath volumes; critical for the node's root, /etc, /proc, runtime sockets ..."""
    for i, volume in enumerate(as_list(w.pod.get("volumes"))):
        volume = as_map(volume)
        host_path = volume.get("hostPath")
        if not isinstance(host_path, dict):
            continue
        path = as_str(host_path.get("path"))
        name = as_str(volume.get("name"))
        sensitive = sensitive_host_path(path) if path else False
        yield finding(
            checks.SENSITIVE_HOST_PATH if sensitive else checks.HOST_PATH,
            w.target,
            f'{w.target.label()} mounts host path "{path}" (volume "{name}")'
            + (", which gives control of the node." if sensitive else "."),
            f"{w.pod_path}.volumes[{i}].hostPath.path",
            {"field": f"volumes[{i}].hostPath.path", "volume": name, "path": path},
        )


def check_share_process_namespace(w: Workload) -> Iterator[Finding]:
    """shareProcessNamespace: true."""
    if w.pod.get("shareProcessNamespace") is True:
        yield finding(
            checks.SHARE_PROCESS_NAMESPACE,
            w.target,
            f"{w.target.label()} sets shareProcessNamespace: true; its containers see each "
            "other's processes.",
            f"{w.pod_path}.shareProcessNamespace",
            {"field": "shareProcessNamespace"},
        )


SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
"""The Pod Security Standards' (baseline) safe sysctls."""


def check_sysctls(w: Workload) -> Iterator[Finding]:
    """Sysctls outside the safe set."""
    for i, sysctl in enumerate(as_list(w.pod_sc.get("sysctls"))):
        name = as_str(as_map(sysctl).get("name"))
        if name and name not in SAFE_SYSCTLS:
            yield finding(
                checks.UNSAFE_SYSCTLS,
                w.target,
                f'{w.target.label()} sets the unsafe sysctl "{name}".',
                f"{w.pod_path}.securityContext.sysctls[{i}].name",
                {"field": f"securityContext.sysctls[{i}]", "sysctl": name},
            )


def check_service_account(w: Workload) -> Iterator[Finding]:
    """The default service account, and automounted tokens."""
    name = as_str(w.pod.get("serviceAccountName")) or as_str(w.pod.get("serviceAccount"))
    if name in ("", "default"):
        yield finding(
            checks.DEFAULT_SERVICE_ACCOUNT,
            w.target,
            f'{w.target.label()} runs as the "default" service account of namespace '
            f'"{w.target.namespace}".',
            f"{w.pod_path}.serviceAccountName",
            {"field": "serviceAccountName", "service_account": name or "default"},
        )
    if w.pod.get("automountServiceAccountToken") is not False:
        yield finding(
            checks.TOKEN_AUTOMOUNT,
            w.target,
            f"{w.target.label()} does not set automountServiceAccountToken: false; every "
            "container gets an API token.",
            f"{w.pod_path}.automountServiceAccountToken",
            {"field": "automountServiceAccountToken"},
        )


def check_replicas(w: Workload) -> Iterator[Finding]:
    """A Deployment or StatefulSet with one replica (``replicas`` absent means one)."""
    if w.target.kind not in _REPLICATED:
        return
    replicas = as_map(w.obj.get("spec")).get("replicas", 1)
    if replicas is None:
        replicas = 1
    if replicas == 1 and not isinstance(replicas, bool):
        yield finding(
            checks.SINGLE_REPLICA,
            w.target,
            f"{w.target.label()} runs a single replica.",
            "spec.replicas",
            {"field": "replicas", "replicas": 1},
        )


def check_windows_host_process(w: Workload) -> Iterator[Finding]:
    """Windows HostProcess containers."""
    for c in w.containers:
        value, path = _effective(w, c, "windowsOptions")
        if as_map(value).get("hostProcess") is True:
            yield finding(
                checks.WINDOWS_HOST_PROCESS,
                w.target,
                f"{_in(c, w)} is a Windows HostProcess container.",
                f"{path}.hostProcess",
                _details(c, "securityContext.windowsOptions.hostProcess"),
            )


# --- Container securityContext ---------------------------------------------------------


def check_privileged(w: Workload) -> Iterator[Finding]:
    """privileged: true."""
    for c in w.containers:
        if c.sc.get("privileged") is True:
            yield finding(
                checks.PRIVILEGED,
                w.target,
                f"{_in(c, w)} runs privileged.",
                f"{c.path}.securityContext.privileged",
                _details(c, "securityContext.privileged"),
            )


def check_privilege_escalation(w: Workload) -> Iterator[Finding]:
    """allowPrivilegeEscalation not false."""
    for c in w.containers:
        if c.sc.get("allowPrivilegeEscalation") is not False:
            yield finding(
                checks.PRIVILEGE_ESCALATION,
                w.target,
                f"{_in(c, w)} does not set allowPrivilegeEscalation: false.",
                f"{c.path}.securityContext.allowPrivilegeEscalation",
                _details(c, "securityContext.allowPrivilegeEscalation"),
            )


DANGEROUS_CAPABILITIES = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "NET_ADMIN",
        "SYS_PTRACE",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_BOOT",
        "SYS_TIME",
        "SYS_CHROOT",
        "SYS_RESOURCE",
        "NET_RAW",
        "DAC_READ_SEARCH",
        "DAC_OVERRIDE",
        "BPF",
        "PERFMON",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "SETFCAP",
        "MKNOD",
        "AUDIT_CONTROL",
        "SYSLOG",
        "LINUX_IMMUTABLE",
        "CHECKPOINT_RESTORE",
    }
)


def _cap(value: Any) -> str:
    name = as_str(value).strip().upper()
    return name[4:] if name.startswith("CAP_") else name


def check_capabilities(w: Workload) -> Iterator[Finding]:
    """Dangerous added capabilities; capabilities not dropping ALL."""
    for c in w.containers:
        caps = as_map(c.sc.get("capabilities"))
        added = [_cap(v) for v in as_list(caps.get("add"))]
        dangerous = sorted({cap for cap in added if cap in DANGEROUS_CAPABILITIES})
        if dangerous:
            yield finding(
                checks.DANGEROUS_CAPABILITIES,
                w.target,
                f"{_in(c, w)} adds the capabilities {', '.join(dangerous)}.",
                f"{c.path}.securityContext.capabilities.add",
                _details(c, "securityContext.capabilities.add", capabilities=dangerous),
            )
        if "ALL" not in {_cap(v) for v in as_list(caps.get("drop"))}:
            yield finding(
                checks.CAPABILITIES_NOT_DROPPED,
                w.target,
                f"{_in(c, w)} does not drop ALL capabilities.",
                f"{c.path}.securityContext.capabilities.drop",
                _details(c, "securityContext.capabilities.drop"),
            )


def check_run_as(w: Workload) -> Iterator[Finding]:
    """runAsUser 0; runAsNonRoot not true (and no non-zero runAsUser)."""
    for c in w.containers:
        user, user_path = _effective(w, c, "runAsUser")
        if user == 0 and not isinstance(user, bool):
            yield finding(
                checks.RUN_AS_ROOT,
                w.target,
                f"{_in(c, w)} runs as root (runAsUser: 0).",
                user_path,
                _details(c, "securityContext.runAsUser", run_as_user=0),
            )
            continue
        non_root, non_root_path = _effective(w, c, "runAsNonRoot")
        if non_root is True or (isinstance(user, int) and not isinstance(user, bool) and user > 0):
            continue
        yield finding(
            checks.RUN_AS_NON_ROOT,
            w.target,
            f"{_in(c, w)} may run as root: runAsNonRoot is not true and no non-root "
            "runAsUser is set.",
            non_root_path,
            _details(c, "securityContext.runAsNonRoot"),
        )


def check_read_only_root(w: Workload) -> Iterator[Finding]:
    """readOnlyRootFilesystem not true."""
    for c in w.containers:
        if c.sc.get("readOnlyRootFilesystem") is not True:
            yield finding(
                checks.WRITABLE_ROOT_FS,
                w.target,
                f"{_in(c, w)} has a writable root filesystem.",
                f"{c.path}.securityContext.readOnlyRootFilesystem",
                _details(c, "securityContext.readOnlyRootFilesystem"),
            )


def check_proc_mount(w: Workload) -> Iterator[Finding]:
    """procMount: Unmasked."""
    for c in w.containers:
        if as_str(c.sc.get("procMount")).lower() == "unmasked":
            yield finding(
                checks.PROC_MOUNT,
                w.target,
                f"{_in(c, w)} sets procMount: Unmasked.",
                f"{c.path}.securityContext.procMount",
                _details(c, "securityContext.procMount"),
            )


_SELINUX_ALLOWED_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def check_selinux(w: Workload) -> Iterator[Finding]:
    """seLinuxOptions with an unconfined type or a custom user/role."""
    for c in w.containers:
        value, path = _effective(w, c, "seLinuxOptions")
        options = as_map(value)
        selinux_type = as_str(options.get("type"))
        bad = []
        if selinux_type not in _SELINUX_ALLOWED_TYPES:
            bad.append(f"type {selinux_type}")
        for key in ("user", "role"):
            if as_str(options.get(key)):
                bad.append(f"{key} {options[key]}")
        if bad:
            yield finding(
                checks.SELINUX,
                w.target,
                f"{_in(c, w)} sets custom SELinux options ({', '.join(bad)}).",
                path,
                _details(c, "securityContext.seLinuxOptions", selinux=dict(options)),
            )


def _profile(
    w: Workload, c: Container, field: str, pod_annotation: str | None, container_annotation: str
) -> tuple[str, str]:
    """The effective seccomp/AppArmor profile type of ``c`` (``""`` when unset, else
    ``RuntimeDefault``/``Localhost``/``Unconfined``) and the json path it came from."""
    value = as_map(c.sc.get(field)).get("type")
    if isinstance(value, str) and value:
        return value, f"{c.path}.securityContext.{field}.type"
    annotation = as_str(w.annotations.get(f"{container_annotation}/{c.name}"))
    if annotation:
        return _annotation_profile(annotation), (
            f"{w.meta_path}.annotations['{container_annotation}/{c.name}']"
        )
    value = as_map(w.pod_sc.get(field)).get("type")
    if isinstance(value, str) and value:
        return value, f"{w.pod_path}.securityContext.{field}.type"
    if pod_annotation:
        annotation = as_str(w.annotations.get(pod_annotation))
        if annotation:
            return _annotation_profile(annotation), f"{w.meta_path}.annotations['{pod_annotation}']"
    return "", f"{w.pod_path}.securityContext.{field}.type"


def _annotation_profile(value: str) -> str:
    lowered = value.strip().lower()
    if lowered == "unconfined":
        return "Unconfined"
    if lowered.startswith("localhost/"):
        return "Localhost"
    return "RuntimeDefault"


_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io"
_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io"


def check_seccomp(w: Workload) -> Iterator[Finding]:
    """Seccomp unset or Unconfined (fields, then the legacy annotations)."""
    for c in w.containers:
        profile, path = _profile(w, c, "seccompProfile", _SECCOMP_POD, _SECCOMP_CONTAINER)
        if not profile:
            yield finding(
                checks.SECCOMP_MISSING,
                w.target,
                f"{_in(c, w)} has no seccomp profile (neither the pod nor the container sets "
                "seccompProfile).",
                path,
                _details(c, "securityContext.seccompProfile"),
            )
        elif profile.lower() == "unconfined":
            yield finding(
                checks.SECCOMP_UNCONFINED,
                w.target,
                f"{_in(c, w)} runs with seccomp Unconfined.",
                path,
                _details(c, "securityContext.seccompProfile"),
            )


def check_apparmor(w: Workload) -> Iterator[Finding]:
    """AppArmor unset or unconfined (appArmorProfile, or the beta annotation)."""
    for c in w.containers:
        profile, path = _profile(w, c, "appArmorProfile", None, APPARMOR_ANNOTATION)
        if not profile:
            yield finding(
                checks.APPARMOR_MISSING,
                w.target,
                f"{_in(c, w)} requests no AppArmor profile.",
                path,
                _details(c, "securityContext.appArmorProfile"),
            )
        elif profile.lower() == "unconfined":
            yield finding(
                checks.APPARMOR_UNCONFINED,
                w.target,
                f"{_in(c, w)} runs with AppArmor unconfined.",
                path,
                _details(c, "securityContext.appArmorProfile"),
            )


# --- Ports, env --------------------------------------------------------------------------


def check_host_port(w: Workload) -> Iterator[Finding]:
    """Container ports with a hostPort."""
    for c in w.containers:
        ports = []
        first = -1
        for i, port in enumerate(as_list(c.spec.get("ports"))):
            host_port = as_map(port).get("hostPort")
            if isinstance(host_port, int) and not isinstance(host_port, bool) and host_port > 0:
                ports.append(host_port)
                if first < 0:
                    first = i
        if ports:
            yield finding(
                checks.HOST_PORT,
                w.target,
                f"{_in(c, w)} binds host port{'s' if len(ports) > 1 else ''} "
                f"{', '.join(map(str, ports))}.",
                f"{c.path}.ports[{first}].hostPort",
                _details(c, f"ports[{first}].hostPort", port=ports[0], ports=ports),
            )


_SECRET_NAME = re.compile(
    r"(?:^|[_.-])(?:PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|SECRET_?KEY|"
    r"PRIVATE_?KEY|CREDENTIALS?|AUTH_?KEY|CLIENT_?SECRET|CONNECTION_?STRING|DSN)(?:$|[_.-])",
    re.IGNORECASE,
)
_NOT_SECRET_SUFFIX = re.compile(
    r"[_.-](?:FILE|PATH|DIR|NAME|REF|KEY_ID|ID|ENABLED|ENABLE|TTL|TIMEOUT|EXPIRY|EXPIRATION|"
    r"LENGTH|HEADER|URL_PATH|TYPE|MODE|PROVIDER)$",
    re.IGNORECASE,
)
_HARMLESS_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", ""})


def secret_like_env(name: str, value: str) -> bool:
    """Whether an env var looks like a credential written out literally."""
    if name.upper() == "PWD" or not _SECRET_NAME.search(name):
        return False
    if _NOT_SECRET_SUFFIX.search(name):
        return False
    stripped = value.strip()
    return not (
        stripped.lower() in _HARMLESS_VALUES
        or stripped.isdigit()
        or stripped.startswith(("/", "$("))
    )


def check_env_secrets(w: Workload) -> Iterator[Finding]:
    """Env vars named like credentials with a literal value (the value is never reported)."""
    for c in w.containers:
        names = []
        first = -1
        for i, env in enumerate(as_list(c.spec.get("env"))):
            env = as_map(env)
            name, value = env.get("name"), env.get("value")
            if isinstance(name, str) and isinstance(value, str) and secret_like_env(name, value):
                names.append(name)
                if first < 0:
                    first = i
        if names:
            yield finding(
                checks.SECRET_IN_ENV,
                w.target,
                f"{_in(c, w)} sets {', '.join(names)} as literal environment value"
                f"{'s' if len(names) > 1 else ''}.",
                f"{c.path}.env[{first}].value",
                _details(c, f"env[{first}].value", env=names),
            )


# --- Resources and probes ----------------------------------------------------------------

_RESOURCES = (
    ("requests", "cpu", checks.CPU_REQUESTS),
    ("requests", "memory", checks.MEMORY_REQUESTS),
    ("limits", "cpu", checks.CPU_LIMITS),
    ("limits", "memory", checks.MEMORY_LIMITS),
)


def check_resources(w: Workload) -> Iterator[Finding]:
    """Missing CPU/memory requests and limits (not for ephemeral containers)."""
    for c in w.containers:
        if c.group == "ephemeralContainers":
            continue
        resources = as_map(c.spec.get("resources"))
        for section, resource, info in _RESOURCES:
            value = as_map(resources.get(section)).get(resource)
            if value is None or value == "":
                yield finding(
                    info,
                    w.target,
                    f"{_in(c, w)} sets no {resource} {section[:-1]}.",
                    f"{c.path}.resources.{section}.{resource}",
                    _details(c, f"resources.{section}.{resource}"),
                )


def check_probes(w: Workload) -> Iterator[Finding]:
    """Missing liveness/readiness probes (app containers of long-running pods only)."""
    if w.run_to_completion:
        return
    for c in w.containers:
        if c.group != "containers":
            continue
        for field, info in (
            ("livenessProbe", checks.LIVENESS_PROBE),
            ("readinessProbe", checks.READINESS_PROBE),
        ):
            if not isinstance(c.spec.get(field), dict):
                yield finding(
                    info,
                    w.target,
                    f"{_in(c, w)} has no {field}.",
                    f"{c.path}.{field}",
                    _details(c, field),
                )


# --- Images ------------------------------------------------------------------------------


def image_checks(trusted: tuple[TrustEntry, ...]) -> Callable[[Workload], Iterator[Finding]]:
    """The image checks, with the trusted registries already normalised."""
    untrusted_remediation = (
        f"{checks.UNTRUSTED_REGISTRY.remediation} Trusted: "
        + (", ".join(e.prefix or e.host for e in trusted) or "none configured")
        + "."
    )

    def check_images(w: Workload) -> Iterator[Finding]:
        for c in w.containers:
            image = as_str(c.spec.get("image")).strip()
            if not image:
                continue
            ref = parse_image(image)
            image_path = f"{c.path}.image"
            mutable = not ref.digest and ref.tag in ("", "latest")
            if mutable:
                yield finding(
                    checks.IMAGE_TAG_LATEST,
                    w.target,
                    f'{_in(c, w)} uses image "{image}" '
                    + ("with the latest tag." if ref.tag else "without a tag (latest)."),
                    image_path,
                    _details(c, "image", image=image, tag=ref.tag),
                )
                policy = c.spec.get("imagePullPolicy")
                if isinstance(policy, str) and policy and policy != "Always":
                    yield finding(
                        checks.IMAGE_PULL_POLICY,
                        w.target,
                        f'{_in(c, w)} pulls the mutable image "{image}" with '
                        f"imagePullPolicy: {policy}.",
                        f"{c.path}.imagePullPolicy",
                        _details(c, "imagePullPolicy", image=image, policy=policy),
                    )
            if not trusts(ref, trusted):
                yield finding(
                    checks.UNTRUSTED_REGISTRY,
                    w.target,
                    f'{_in(c, w)} uses image "{image}" from {ref.registry}, which is not a '
                    "trusted registry.",
                    image_path,
                    _details(c, "image", image=image, registry=ref.registry),
                    remediation=untrusted_remediation,
                )

    return check_images


WorkloadCheck = Callable[[Workload], Iterator[Finding]]

WORKLOAD_CHECKS: tuple[WorkloadCheck, ...] = (
    check_host_namespaces,
    check_host_path,
    check_share_process_namespace,
    check_sysctls,
    check_service_account,
    check_replicas,
    check_windows_host_process,
    check_privileged,
    check_privilege_escalation,
    check_capabilities,
    check_run_as,
    check_read_only_root,
    check_proc_mount,
    check_selinux,
    check_seccomp,
    check_apparmor,
    check_host_port,
    check_env_secrets,
    check_resources,
    check_probes,
)
"""The workload checks that need nothing but the workload (images come from
:func:`image_checks`)."""
