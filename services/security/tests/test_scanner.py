"""Every built-in check: a manifest that triggers it and a close variant that does not."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from kubeward.schemas.security import CLUSTER_SCOPE, SEVERITIES, finding_key
from kubeward.security.scanner import (
    CHECKS,
    DEFAULT_TRUSTED_REGISTRIES,
    Finding,
    parse_manifests,
    scan,
)

TRUSTED = (*DEFAULT_TRUSTED_REGISTRIES, "ghcr.io/acme")

HARDENED = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
        appArmorProfile:
          type: RuntimeDefault
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - containerPort: 8080
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: [ALL]
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
        livenessProbe:
          httpGet: {path: /healthz, port: 8080}
        readinessProbe:
          httpGet: {path: /ready, port: 8080}
"""


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def deployment(pod: str = "", container: str = "", template_meta: str = "", top: str = "") -> str:
    """The hardened Deployment with YAML patches (a null deletes a key), as YAML text."""
    obj = yaml.safe_load(HARDENED)
    template = obj["spec"]["template"]
    _merge(obj, yaml.safe_load(top) or {})
    _merge(template["metadata"], yaml.safe_load(template_meta) or {})
    _merge(template["spec"], yaml.safe_load(pod) or {})
    _merge(template["spec"]["containers"][0], yaml.safe_load(container) or {})
    return str(yaml.safe_dump(obj, sort_keys=False))


def run(text: str, **kwargs: Any) -> list[Finding]:
    kwargs.setdefault("trusted_registries", TRUSTED)
    return scan(parse_manifests(text), **kwargs)


@dataclass(frozen=True)
class Case:
    check: str
    severity: str
    bad: str
    good: str
    json_path: str
    names: str
    """What the message must name (the container, role, host ...)."""


C0 = "spec.template.spec.containers[0]"
POD = "spec.template.spec"

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ops
rules:
- apiGroups: ["{group}"]
  resources: [{resources}]
  verbs: [{verbs}]
"""


def role(resources: str, verbs: str, group: str = "", extra: str = "") -> str:
    text = ROLE.format(resources=resources, verbs=verbs, group=group)
    return text + extra


SECRETS_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: shop
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
- apiGroups: [""]
  resources: [secrets]
  verbs: [{verbs}]
{names}
"""


def binding(
    role_name: str, subject_kind: str, subject: str, kind: str = "ClusterRoleBinding"
) -> str:
    namespace = "\n  namespace: shop" if kind == "RoleBinding" else ""
    return f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata:
  name: grant{namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {role_name}
subjects:
- kind: {subject_kind}
  name: {subject}
  namespace: ci
"""


def ingress(hosts: list[str], tls_hosts: list[str] | None) -> str:
    rules = "".join(
        f"""
  - host: "{h}"
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {{name: web, port: {{number: 80}}}}"""
        for h in hosts
    )
    tls = ""
    if tls_hosts is not None:
        tls = (
            "\n  tls:\n  - secretName: web-tls\n    hosts: ["
            + ", ".join(f'"{h}"' for h in tls_hosts)
            + "]"
        )
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:{rules}{tls}
"""


def service(spec: str, annotations: str = "{}") -> str:
    return f"""
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: {annotations}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 8080
{spec}
"""


def namespace(labels: str) -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {labels}
"""


NETPOL = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""
RESTRICTED = "{pod-security.kubernetes.io/enforce: restricted}"
PSA_PATH = "metadata.labels['pod-security.kubernetes.io/enforce']"
APPARMOR = "container.apparmor.security.beta.kubernetes.io/app"

CASES = [
    # --- pod ---
    Case("host-network", "high", deployment("hostNetwork: true"),
         deployment("hostNetwork: false"), f"{POD}.hostNetwork", '"web"'),
    Case("host-pid", "high", deployment("hostPID: true"),
         deployment("hostPID: false"), f"{POD}.hostPID", '"web"'),
    Case("host-ipc", "high", deployment("hostIPC: true"),
         deployment("hostIPC: false"), f"{POD}.hostIPC", '"web"'),
    Case("host-path-volume", "high",
         deployment("volumes: [{name: data, hostPath: {path: /data/app}}]"),
         deployment("volumes: [{name: data, emptyDir: {}}]"),
         f"{POD}.volumes[0].hostPath.path", "/data/app"),
    Case("sensitive-host-path", "critical",
         deployment("volumes: [{name: sock, hostPath: {path: /var/run/docker.sock}}]"),
         deployment("volumes: [{name: sock, hostPath: {path: /data/app}}]"),
         f"{POD}.volumes[0].hostPath.path", "/var/run/docker.sock"),
    Case("host-port", "medium",
         deployment(container="ports: [{containerPort: 8080, hostPort: 8080}]"),
         deployment(container="ports: [{containerPort: 8080}]"),
         f"{C0}.ports[0].hostPort", '"app"'),
    Case("share-process-namespace", "medium", deployment("shareProcessNamespace: true"),
         deployment("shareProcessNamespace: false"), f"{POD}.shareProcessNamespace", '"web"'),
    Case("unsafe-sysctls", "high",
         deployment("securityContext: {sysctls: [{name: kernel.msgmax, value: '65536'}]}"),
         deployment("securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: '1'}]}"),
         f"{POD}.securityContext.sysctls[0].name", "kernel.msgmax"),
    Case("default-service-account", "medium", deployment("serviceAccountName: default"),
         deployment("serviceAccountName: web"), f"{POD}.serviceAccountName", '"web"'),
    Case("service-account-token-automount", "low",
         deployment("automountServiceAccountToken: true"),
         deployment("automountServiceAccountToken: false"),
         f"{POD}.automountServiceAccountToken", '"web"'),
    Case("single-replica", "low", deployment(top="spec: {replicas: 1}"),
         deployment(top="spec: {replicas: 2}"), "spec.replicas", '"web"'),
    Case("windows-host-process", "critical",
         deployment(container="securityContext: {windowsOptions: {hostProcess: true}}"),
         deployment(container="securityContext: {windowsOptions: {hostProcess: false}}"),
         f"{C0}.securityContext.windowsOptions.hostProcess", '"app"'),
    # --- container securityContext ---
    Case("privileged-container", "critical",
         deployment(container="securityContext: {privileged: true}"),
         deployment(container="securityContext: {privileged: false}"),
         f"{C0}.securityContext.privileged", '"app"'),
    Case("privilege-escalation-allowed", "high",
         deployment(container="securityContext: {allowPrivilegeEscalation: true}"),
         deployment(container="securityContext: {allowPrivilegeEscalation: false}"),
         f"{C0}.securityContext.allowPrivilegeEscalation", '"app"'),
    Case("dangerous-capabilities", "high",
         deployment(container="securityContext: {capabilities: {add: [SYS_ADMIN]}}"),
         deployment(container="securityContext: {capabilities: {add: [NET_BIND_SERVICE]}}"),
         f"{C0}.securityContext.capabilities.add", "SYS_ADMIN"),
    Case("capabilities-not-dropped", "medium",
         deployment(container="securityContext: {capabilities: {drop: [NET_RAW]}}"),
         deployment(container="securityContext: {capabilities: {drop: [all]}}"),
         f"{C0}.securityContext.capabilities.drop", '"app"'),
    Case("run-as-root", "high",
         deployment(container="securityContext: {runAsUser: 0}"),
         deployment(container="securityContext: {runAsUser: 1000}"),
         f"{C0}.securityContext.runAsUser", '"app"'),
    Case("run-as-non-root-not-set", "medium",
         deployment("securityContext: {runAsNonRoot: null, runAsUser: null}"),
         deployment(
             "securityContext: {runAsNonRoot: null, runAsUser: null}",
             "securityContext: {runAsNonRoot: true}",
         ),
         f"{C0}.securityContext.runAsNonRoot", '"app"'),
    Case("writable-root-filesystem", "medium",
         deployment(container="securityContext: {readOnlyRootFilesystem: false}"),
         deployment(container="securityContext: {readOnlyRootFilesystem: true}"),
         f"{C0}.securityContext.readOnlyRootFilesystem", '"app"'),
    Case("proc-mount-unmasked", "high",
         deployment(container="securityContext: {procMount: Unmasked}"),
         deployment(container="securityContext: {procMount: Default}"),
         f"{C0}.securityContext.procMount", '"app"'),
    Case("selinux-custom-options", "high",
         deployment(container="securityContext: {seLinuxOptions: {type: spc_t}}"),
         deployment(container="securityContext: {seLinuxOptions: {type: container_t, "
                    "level: 's0:c123,c456'}}"),
         f"{C0}.securityContext.seLinuxOptions", "spc_t"),
    Case("seccomp-profile-missing", "medium",
         deployment("securityContext: {seccompProfile: null}"),
         deployment("securityContext: {seccompProfile: null}",
                    "securityContext: {seccompProfile: {type: RuntimeDefault}}"),
         f"{POD}.securityContext.seccompProfile.type", '"app"'),
    Case("seccomp-unconfined", "high",
         deployment(container="securityContext: {seccompProfile: {type: Unconfined}}"),
         deployment(container="securityContext: {seccompProfile: {type: Localhost, "
                    "localhostProfile: profiles/app.json}}"),
         f"{C0}.securityContext.seccompProfile.type", '"app"'),
    Case("apparmor-profile-missing", "low",
         deployment("securityContext: {appArmorProfile: null}"),
         deployment("securityContext: {appArmorProfile: null}",
                    template_meta=f"annotations: {{{APPARMOR}: runtime/default}}"),
         f"{POD}.securityContext.appArmorProfile.type", '"app"'),
    Case("apparmor-unconfined", "high",
         deployment(template_meta=f"annotations: {{{APPARMOR}: unconfined}}"),
         deployment(template_meta=f"annotations: {{{APPARMOR}: localhost/k8s-apparmor}}"),
         f"spec.template.metadata.annotations['{APPARMOR}']", '"app"'),
    Case("secret-in-env", "high",
         deployment(container="env: [{name: LOG_LEVEL, value: info}, "
                    "{name: DB_PASSWORD, value: hunter2}]"),
         deployment(container="env: [{name: LOG_LEVEL, value: info}, {name: DB_PASSWORD, "
                    "valueFrom: {secretKeyRef: {name: db, key: password}}}]"),
         f"{C0}.env[1].value", "DB_PASSWORD"),
    # --- resources, probes ---
    Case("cpu-requests-missing", "low",
         deployment(container="resources: {requests: {cpu: null}}"),
         deployment(container="resources: {requests: {cpu: 50m}}"),
         f"{C0}.resources.requests.cpu", '"app"'),
    Case("memory-requests-missing", "low",
         deployment(container="resources: {requests: {memory: null}}"),
         deployment(container="resources: {requests: {memory: 64Mi}}"),
         f"{C0}.resources.requests.memory", '"app"'),
    Case("cpu-limits-missing", "low",
         deployment(container="resources: {limits: {cpu: null}}"),
         deployment(container="resources: {limits: {cpu: '1'}}"),
         f"{C0}.resources.limits.cpu", '"app"'),
    Case("memory-limits-missing", "medium",
         deployment(container="resources: {limits: {memory: null}}"),
         deployment(container="resources: {limits: {memory: 1Gi}}"),
         f"{C0}.resources.limits.memory", '"app"'),
    Case("liveness-probe-missing", "low", deployment(container="livenessProbe: null"),
         deployment(container="livenessProbe: {tcpSocket: {port: 8080}}"),
         f"{C0}.livenessProbe", '"app"'),
    Case("readiness-probe-missing", "low", deployment(container="readinessProbe: null"),
         deployment(container="readinessProbe: {exec: {command: [cat, /tmp/ready]}}"),
         f"{C0}.readinessProbe", '"app"'),
    # --- images ---
    Case("image-tag-latest", "medium", deployment(container="image: nginx:latest"),
         deployment(container="image: nginx@sha256:" + "a" * 64),
         f"{C0}.image", "nginx:latest"),
    Case("image-pull-policy-not-always", "low",
         deployment(container="{image: nginx, imagePullPolicy: IfNotPresent}"),
         deployment(container="{image: nginx, imagePullPolicy: Always}"),
         f"{C0}.imagePullPolicy", '"app"'),
    Case("untrusted-registry", "medium",
         deployment(container="image: ghcr.io/acmecorp/app:1.0"),
         deployment(container="image: ghcr.io/acme/app:1.0"),
         f"{C0}.image", "ghcr.io/acmecorp/app:1.0"),
    # --- RBAC ---
    Case("rbac-wildcard-verbs", "high", role("configmaps", '"*"'), role("configmaps", "get, list"),
         "rules[0].verbs", '"ops"'),
    Case("rbac-wildcard-resources", "high", role('"*"', "get"), role("configmaps", "get"),
         "rules[0].resources", '"ops"'),
    Case("rbac-wildcard-api-groups", "medium", role("configmaps", "get", group="*"),
         role("configmaps", "get", group=""), "rules[0].apiGroups", '"ops"'),
    Case("rbac-secrets-read", "high", SECRETS_ROLE.format(verbs="list", names=""),
         SECRETS_ROLE.format(verbs="get", names="  resourceNames: [web-tls]"),
         "rules[1].resources", '"reader"'),
    Case("rbac-pod-exec", "high", role("pods/exec", "create"), role("pods/log", "get"),
         "rules[0].resources", '"ops"'),
    Case("rbac-escalate-bind-impersonate", "critical", role("users, groups", "impersonate"),
         role("users, groups", "get"), "rules[0].verbs", '"ops"'),
    Case("rbac-create-pods", "medium", role("deployments", "create", group="apps"),
         role("deployments", "get, list, watch", group="apps"), "rules[0].resources", '"ops"'),
    Case("rbac-nodes-proxy", "high", role("nodes/proxy", "get"), role("nodes/metrics", "get"),
         "rules[0].resources", '"ops"'),
    Case("rbac-create-tokens", "high", role("serviceaccounts/token", "create"),
         role("serviceaccounts", "create"), "rules[0].resources", '"ops"'),
    Case("cluster-admin-binding", "critical",
         binding("cluster-admin", "ServiceAccount", "deployer"),
         binding("view", "ServiceAccount", "deployer"), "roleRef.name", "deployer"),
    Case("anonymous-access-binding", "critical", binding("view", "Group", "system:unauthenticated"),
         binding("system:public-info-viewer", "Group", "system:unauthenticated"),
         "subjects[0].name", "system:unauthenticated"),
    Case("authenticated-group-binding", "high", binding("view", "Group", "system:authenticated"),
         binding("view", "Group", "developers"), "subjects[0].name", '"grant"'),
    # --- network ---
    Case("ingress-no-tls", "medium", ingress(["app.example.com"], None),
         ingress(["app.example.com"], ["app.example.com"]), "spec.tls", "app.example.com"),
    Case("ingress-wildcard-host", "medium", ingress(["*.example.com"], ["*.example.com"]),
         ingress(["app.example.com"], ["*.example.com"]), "spec.rules[0].host", "*.example.com"),
    Case("ingress-tls-missing-host", "medium",
         ingress(["app.example.com", "admin.example.com"], ["app.example.com"]),
         ingress(["app.example.com", "admin.example.com"],
                 ["app.example.com", "admin.example.com"]),
         "spec.rules[1].host", "admin.example.com"),
    Case("service-node-port", "low", service("  type: NodePort"), service("  type: ClusterIP"),
         "spec.type", '"web"'),
    Case("service-load-balancer", "low",
         service("  type: LoadBalancer\n  loadBalancerSourceRanges: [10.0.0.0/8]"),
         service("  type: ClusterIP"), "spec.type", "10.0.0.0/8"),
    Case("service-load-balancer-open", "high", service("  type: LoadBalancer"),
         service("  type: LoadBalancer",
                 annotations="{networking.gke.io/load-balancer-type: Internal}"),
         "spec.loadBalancerSourceRanges", '"web"'),
    Case("service-external-ips", "high", service("  externalIPs: [203.0.113.10]"),
         service("  externalIPs: []"), "spec.externalIPs", "203.0.113.10"),
    Case("namespace-no-network-policy", "medium", namespace(RESTRICTED),
         namespace(RESTRICTED) + NETPOL, "metadata.name", '"shop"'),
    Case("namespace-no-pod-security", "medium", namespace("{team: shop}"),
         namespace(RESTRICTED), PSA_PATH, '"shop"'),
    Case("namespace-pod-security-privileged", "high",
         namespace("{pod-security.kubernetes.io/enforce: privileged}"),
         namespace("{pod-security.kubernetes.io/enforce: baseline}"), PSA_PATH, '"shop"'),
]  # fmt: skip


def _of(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.check)
def test_check_triggers(case: Case) -> None:
    found = _of(run(case.bad), case.check)
    assert len(found) == 1, found
    finding = found[0]
    assert finding.severity == case.severity
    assert finding.json_path == case.json_path
    assert case.names in finding.message
    info = CHECKS[case.check]
    assert (finding.title, finding.category) == (info.title, info.category)
    assert finding.remediation
    assert finding.details.get("field")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.check)
def test_close_variant_does_not_trigger(case: Case) -> None:
    assert _of(run(case.good), case.check) == []


def test_every_check_has_a_triggering_case() -> None:
    assert sorted(c.check for c in CASES) == sorted(CHECKS)


def test_catalogue_is_consistent() -> None:
    for key, info in CHECKS.items():
        assert key == info.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", key)
        assert info.severity in SEVERITIES
        assert info.title and info.description and info.remediation and info.category


def test_hardened_deployment_has_no_findings() -> None:
    assert run(HARDENED) == []


def test_workload_resource_identity() -> None:
    (finding,) = _of(
        run(deployment(container="securityContext: {privileged: true}")), "privileged-container"
    )
    assert (finding.resource_type, finding.resource_name, finding.namespace) == (
        "Deployment",
        "web",
        "shop",
    )
    assert finding.details["container"] == "app"


def test_cluster_scoped_objects_use_cluster_scope() -> None:
    findings = run(role('"*"', '"*"') + "---" + namespace("{}"))
    assert findings
    assert {f.namespace for f in findings} == {CLUSTER_SCOPE}


def test_namespace_defaults_to_default() -> None:
    text = deployment(container="securityContext: {privileged: true}").replace(
        "namespace: shop", ""
    )
    assert {f.namespace for f in run(text)} == {"default"}


# --- shapes: json paths for every kind and container group ------------------------------

POD_TEXT = """
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop}
spec:
  containers:
  - name: main
    image: busybox:1.36
  initContainers:
  - name: setup
    image: busybox:1.36
    securityContext: {privileged: true}
  ephemeralContainers:
  - name: shell
    image: busybox:1.36
    securityContext: {privileged: true}
"""


def _template(kind: str, api: str, pod_spec: str, wrap: str = "template") -> str:
    body = "\n".join("      " + line for line in pod_spec.strip().splitlines())
    spec = f"""
apiVersion: {api}
kind: {kind}
metadata: {{name: thing, namespace: shop}}
spec:
  {wrap}:
    spec:
{body}
"""
    return spec


PRIV_SPEC = """
containers:
- name: main
  image: busybox:1.36
  securityContext: {privileged: true}
"""

CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: busybox:1.36
            securityContext: {privileged: true}
"""


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (_template("Deployment", "apps/v1", PRIV_SPEC), "spec.template.spec.containers[0]"),
        (_template("StatefulSet", "apps/v1", PRIV_SPEC), "spec.template.spec.containers[0]"),
        (_template("DaemonSet", "apps/v1", PRIV_SPEC), "spec.template.spec.containers[0]"),
        (_template("ReplicaSet", "apps/v1", PRIV_SPEC), "spec.template.spec.containers[0]"),
        (_template("Job", "batch/v1", PRIV_SPEC), "spec.template.spec.containers[0]"),
        (CRONJOB, "spec.jobTemplate.spec.template.spec.containers[0]"),
        (POD_TEXT, "spec.initContainers[0]"),
        (POD_TEXT, "spec.ephemeralContainers[0]"),
    ],
    ids=[
        "deployment",
        "statefulset",
        "daemonset",
        "replicaset",
        "job",
        "cronjob",
        "init",
        "ephemeral",
    ],
)
def test_json_paths_for_each_shape(text: str, path: str) -> None:
    paths = {f.json_path for f in run(text) if f.check == "privileged-container"}
    assert f"{path}.securityContext.privileged" in paths


def test_probes_only_for_long_running_app_containers() -> None:
    def probe_containers(text: str) -> set[str]:
        return {
            f.details["container"]
            for f in run(text)
            if f.check in ("liveness-probe-missing", "readiness-probe-missing")
        }

    assert probe_containers(POD_TEXT) == {"main"}  # not the init or ephemeral container
    assert probe_containers(CRONJOB) == set()
    assert probe_containers(_template("Job", "batch/v1", PRIV_SPEC)) == set()
    assert probe_containers(_template("Deployment", "apps/v1", PRIV_SPEC)) == {"main"}
    bare_job_pod = POD_TEXT.replace(
        "spec:\n  containers:", "spec:\n  restartPolicy: Never\n  containers:"
    )
    assert probe_containers(bare_job_pod) == set()


def test_resources_not_required_of_ephemeral_containers() -> None:
    containers = {
        f.details["container"] for f in run(POD_TEXT) if f.check == "memory-limits-missing"
    }
    assert containers == {"main", "setup"}


def test_single_replica_when_replicas_omitted_but_not_for_daemonsets() -> None:
    assert _of(run(deployment(top="spec: {replicas: null}")), "single-replica")
    assert not _of(run(_template("DaemonSet", "apps/v1", PRIV_SPEC)), "single-replica")


def test_each_container_gets_its_own_finding() -> None:
    text = deployment(
        pod="""
containers:
- {name: a, image: 'nginx:1.27', securityContext: {privileged: true}}
- {name: b, image: 'nginx:1.27', securityContext: {privileged: true}}
"""
    )
    found = _of(run(text), "privileged-container")
    assert [f.details["container"] for f in found] == ["a", "b"]
    assert [f.json_path for f in found] == [
        f"{POD}.containers[0].securityContext.privileged",
        f"{POD}.containers[1].securityContext.privileged",
    ]
    keys = {
        finding_key(f.resource_type, f.namespace, f.resource_name, f.check, f.details)
        for f in found
    }
    assert len(keys) == 2


def test_pod_level_security_context_applies_to_containers() -> None:
    text = deployment("securityContext: {runAsUser: 0}")
    (finding,) = _of(run(text), "run-as-root")
    assert finding.json_path == f"{POD}.securityContext.runAsUser"
    container_overrides = deployment(
        "securityContext: {runAsUser: 0}", "securityContext: {runAsUser: 1000}"
    )
    assert not _of(run(container_overrides), "run-as-root")


def test_sensitive_host_paths() -> None:
    def severity(path: str) -> str:
        text = deployment(f"volumes: [{{name: v, hostPath: {{path: '{path}'}}}}]")
        (finding,) = [f for f in run(text) if "host-path" in f.check]
        return finding.severity

    for path in (
        "/",
        "/etc",
        "/etc/",
        "/proc/1",
        "/var/lib/kubelet",
        "/run/containerd/containerd.sock",
        "/etc/kubernetes/pki",
        "/root//.ssh",
    ):
        assert severity(path) == "critical", path
    for path in ("/data", "/var/log/pods", "/etc/ssl/certs", "/tmp/cache", "/opt/app"):
        assert severity(path) == "high", path


def test_secret_values_are_never_reported() -> None:
    text = deployment(container="env: [{name: API_KEY, value: s3cr3t-value}]")
    (finding,) = _of(run(text), "secret-in-env")
    assert "s3cr3t-value" not in repr(finding)
    assert finding.details["env"] == ["API_KEY"]


@pytest.mark.parametrize(
    ("name", "value", "flagged"),
    [
        ("DB_PASSWORD", "hunter2", True),
        ("GITHUB_TOKEN", "ghp_abc", True),
        ("AWS_SECRET_ACCESS_KEY", "wJalr", True),
        ("apiKey", "k", True),
        ("API_KEY", "abc", True),
        ("PASSWORD_FILE", "/run/secrets/pw", False),
        ("TOKEN_TTL", "3600", False),
        ("AUTH_ENABLED", "true", False),
        ("SECRET_NAME", "db-creds", False),
        ("PWD", "/app", False),
        ("LOG_LEVEL", "debug", False),
        ("PASSWORD", "$(DB_PASSWORD)", False),
    ],
)
def test_secret_env_heuristic(name: str, value: str, flagged: bool) -> None:
    text = deployment(container=f"env: [{{name: {name}, value: '{value}'}}]")
    assert bool(_of(run(text), "secret-in-env")) is flagged


def test_cluster_admin_default_binding_to_masters_is_not_reported() -> None:
    assert not run(binding("cluster-admin", "Group", "system:masters"))
    assert _of(
        run(binding("cluster-admin", "User", "alice", kind="RoleBinding")), "cluster-admin-binding"
    )


def test_rbac_wildcard_rule_reports_each_wildcard_once() -> None:
    checks = sorted(f.check for f in run(role('"*"', '"*"', group="*")))
    assert checks == ["rbac-wildcard-api-groups", "rbac-wildcard-resources", "rbac-wildcard-verbs"]
    findings = run(role("secrets", '"*"'))
    assert {f.check for f in findings} == {"rbac-wildcard-verbs", "rbac-secrets-read"}
    assert all(f.details["rule"] == 0 for f in findings)


def test_namespace_checks_skip_system_namespaces_and_respect_known_policies() -> None:
    system = namespace("{}").replace("name: shop", "name: kube-system")
    assert run(system) == []
    assert not _of(
        run(namespace(RESTRICTED), network_policy_namespaces={"shop"}),
        "namespace-no-network-policy",
    )
    other_ns = NETPOL.replace("namespace: shop", "namespace: other")
    assert _of(run(namespace(RESTRICTED) + other_ns), "namespace-no-network-policy")


def test_ingress_wildcard_tls_covers_one_level() -> None:
    assert not _of(run(ingress(["a.example.com"], ["*.example.com"])), "ingress-tls-missing-host")
    assert _of(run(ingress(["a.b.example.com"], ["*.example.com"])), "ingress-tls-missing-host")


def test_ingress_rule_without_host_is_a_wildcard() -> None:
    text = ingress(["x"], ["x"]).replace('- host: "x"\n    http:', "- http:")
    (finding,) = _of(run(text), "ingress-wildcard-host")
    assert finding.details["host"] == ""


# --- the Kure agent's snake_case objects --------------------------------------------------


def _agent_pod() -> dict[str, Any]:
    """A Pod as the Python client's ``to_dict()`` gives it (unset fields are None)."""
    return {
        "api_version": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "agent-pod",
            "namespace": "prod",
            "labels": {"app_name": "x"},
            "annotations": {APPARMOR.replace("/app", "/main"): "unconfined"},
            "creation_timestamp": None,
        },
        "spec": {
            "host_network": True,
            "host_ipc": True,
            "host_pid": None,
            "service_account_name": None,
            "automount_service_account_token": None,
            "security_context": {"run_as_non_root": None, "run_as_user": None, "sysctls": None},
            "volumes": [{"name": "root", "host_path": {"path": "/", "type": None}}],
            "init_containers": None,
            "containers": [
                {
                    "name": "main",
                    "image": "nginx",
                    "image_pull_policy": "IfNotPresent",
                    "env": [{"name": "API_TOKEN", "value": "abc123", "value_from": None}],
                    "liveness_probe": None,
                    "readiness_probe": {"http_get": {"path": "/", "port": 80}},
                    "ports": [{"container_port": 80, "host_port": 80, "host_ip": None}],
                    "resources": {"limits": None, "requests": {"cpu": "1", "memory": "1Gi"}},
                    "security_context": {
                        "privileged": True,
                        "allow_privilege_escalation": None,
                        "read_only_root_filesystem": True,
                        "run_as_non_root": True,
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                        "seccomp_profile": {"type": "RuntimeDefault", "localhost_profile": None},
                    },
                }
            ],
        },
        "status": None,
    }


def test_snake_case_agent_objects_are_checked_with_camel_case_paths() -> None:
    findings = scan([_agent_pod()], trusted_registries=TRUSTED)
    by_check = {f.check: f for f in findings}
    sc = "spec.containers[0].securityContext"
    expected = {
        "host-network": "spec.hostNetwork",
        "host-ipc": "spec.hostIPC",
        "sensitive-host-path": "spec.volumes[0].hostPath.path",
        "privileged-container": f"{sc}.privileged",
        "privilege-escalation-allowed": f"{sc}.allowPrivilegeEscalation",
        "dangerous-capabilities": f"{sc}.capabilities.add",
        "host-port": "spec.containers[0].ports[0].hostPort",
        "secret-in-env": "spec.containers[0].env[0].value",
        "liveness-probe-missing": "spec.containers[0].livenessProbe",
        "memory-limits-missing": "spec.containers[0].resources.limits.memory",
        "image-pull-policy-not-always": "spec.containers[0].imagePullPolicy",
        "default-service-account": "spec.serviceAccountName",
        "service-account-token-automount": "spec.automountServiceAccountToken",
        "apparmor-unconfined": f"metadata.annotations['{APPARMOR.replace('/app', '/main')}']",
    }
    for check, path in expected.items():
        assert by_check[check].json_path == path, check
    for absent in (
        "host-pid",
        "readiness-probe-missing",
        "writable-root-filesystem",
        "run-as-non-root-not-set",
        "capabilities-not-dropped",
        "seccomp-profile-missing",
        "memory-requests-missing",
    ):
        assert absent not in by_check, absent
    assert by_check["host-network"].namespace == "prod"


def test_snake_case_and_camel_case_give_the_same_findings() -> None:
    camel = yaml.safe_load(deployment(container="securityContext: {privileged: true}"))
    snake = yaml.safe_load(
        deployment(container="securityContext: {privileged: true}")
        .replace("apiVersion", "api_version")
        .replace("serviceAccountName", "service_account_name")
        .replace("automountServiceAccountToken", "automount_service_account_token")
        .replace("securityContext", "security_context")
        .replace("runAsNonRoot", "run_as_non_root")
        .replace("readOnlyRootFilesystem", "read_only_root_filesystem")
        .replace("allowPrivilegeEscalation", "allow_privilege_escalation")
        .replace("seccompProfile", "seccomp_profile")
        .replace("livenessProbe", "liveness_probe")
        .replace("matchLabels", "match_labels")
    )

    def summary(objs: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(f.check, f.json_path) for f in scan(objs, trusted_registries=TRUSTED)]

    assert summary([snake]) == summary([camel])
    assert ("privileged-container", f"{C0}.securityContext.privileged") in summary([snake])


# --- odd input ----------------------------------------------------------------------------

ODD_OBJECTS: list[Any] = [
    None,
    5,
    "Deployment",
    {},
    {"kind": None},
    {"kind": "Deployment"},
    {"kind": "Deployment", "metadata": None, "spec": None},
    {"kind": "Deployment", "metadata": {"name": 5}, "spec": {"template": []}},
    {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": None, "volumes": "x"}},
    {
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": [1]},
        "spec": {
            "securityContext": "root",
            "hostNetwork": "true",
            "volumes": [None, {"hostPath": None}, {"hostPath": {"path": 7}}],
            "containers": [
                None,
                7,
                {
                    "name": None,
                    "image": 42,
                    "securityContext": {
                        "capabilities": {"add": "SYS_ADMIN", "drop": [None, 3]},
                        "runAsUser": "0",
                        "seLinuxOptions": ["spc_t"],
                        "seccompProfile": "Unconfined",
                    },
                    "resources": {"limits": "lots", "requests": None},
                    "ports": [{"hostPort": "80"}, None],
                    "env": [{"name": None, "value": 1}, "PASSWORD=x"],
                },
            ],
        },
    },
    {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": None}}},
    {
        "kind": "ClusterRole",
        "metadata": {"name": "r"},
        "rules": [None, {"verbs": "*"}, {"verbs": [1]}],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": None,
        "subjects": [None, 1],
    },
    {
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {"rules": [None], "tls": [{"hosts": None}]},
    },
    {
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "LoadBalancer", "externalIPs": [1]},
    },
    {"kind": "Namespace", "metadata": {"name": "n", "labels": None}},
    {"kind": "Widget", "metadata": {"name": "w"}},
]


def test_odd_input_never_raises_and_no_check_fails(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kubeward.security.scanner"):
        findings = scan(ODD_OBJECTS, trusted_registries=TRUSTED)
    assert caplog.records == []
    assert all(isinstance(f, Finding) for f in findings)


def _mutations(value: Any, junk: list[Any]) -> Any:
    """Every variant of ``value`` with one node replaced by each junk value."""
    yield from junk
    if isinstance(value, dict):
        for key, item in value.items():
            for replaced in _mutations(item, junk):
                yield {**value, key: replaced}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for replaced in _mutations(item, junk):
                yield [*value[:i], replaced, *value[i + 1 :]]


def test_every_single_node_corruption_is_tolerated(caplog: pytest.LogCaptureFixture) -> None:
    junk: list[Any] = [None, 0, True, "x", [], {}, [None], {"a": None}]
    variants = 0
    with caplog.at_level(logging.WARNING, logger="kubeward.security.scanner"):
        for case in CASES:
            for obj in parse_manifests(case.bad):
                for variant in _mutations(obj, junk):
                    scan([variant], trusted_registries=TRUSTED)
                    variants += 1
    assert variants > 10_000
    assert caplog.records == []


def test_a_failing_check_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kubeward.security.scanner import engine, workloads

    def broken(_: Any) -> Any:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr(engine, "WORKLOAD_CHECKS", (broken, *workloads.WORKLOAD_CHECKS))
    with caplog.at_level(logging.WARNING, logger="kubeward.security.scanner"):
        findings = run(deployment(container="securityContext: {privileged: true}"))
    assert _of(findings, "privileged-container")
    assert any("broken" in r.getMessage() for r in caplog.records)
