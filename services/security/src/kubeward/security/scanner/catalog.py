"""The catalogue of built-in checks: id, title, severity, category and generic remediation.

Every finding's severity is its check's severity: where a case is worse (a sensitive
hostPath, an unrestricted LoadBalancer) it is a check of its own, so a check id always
means one severity and one remedy.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kubeward.schemas.security import Severity
from kubeward.security.scanner.model import CheckInfo

POD_SECURITY = "Pod Security"
RBAC = "RBAC"
NETWORK = "Network"
SUPPLY_CHAIN = "Supply Chain"
RELIABILITY = "Reliability"
RESOURCES = "Resource Management"

_ENTRIES: list[CheckInfo] = []


def _c(
    id: str,
    title: str,
    severity: Severity,
    category: str,
    description: str,
    remediation: str,
) -> CheckInfo:
    info = CheckInfo(
        id=id,
        title=title,
        severity=severity,
        category=category,
        description=description,
        remediation=remediation,
    )
    _ENTRIES.append(info)
    return info


# --- Pod security: the pod ---------------------------------------------------------

HOST_NETWORK = _c(
    "host-network",
    "Pod uses the host network",
    "high",
    POD_SECURITY,
    "The pod shares the node's network namespace: it can sniff node traffic, reach "
    "services bound to localhost on the node and bypass NetworkPolicies.",
    "Remove `hostNetwork: true` from the pod spec (or set `hostNetwork: false`); expose "
    "the workload through a Service instead.",
)
HOST_PID = _c(
    "host-pid",
    "Pod shares the host PID namespace",
    "high",
    POD_SECURITY,
    "The pod sees every process on the node and, with enough privileges, can signal or "
    "ptrace them and read their environment.",
    "Remove `hostPID: true` from the pod spec.",
)
HOST_IPC = _c(
    "host-ipc",
    "Pod shares the host IPC namespace",
    "high",
    POD_SECURITY,
    "The pod can read and write shared memory of every process on the node.",
    "Remove `hostIPC: true` from the pod spec.",
)
HOST_PATH = _c(
    "host-path-volume",
    "hostPath volume mounted",
    "high",
    POD_SECURITY,
    "A hostPath volume exposes the node's filesystem to the pod; writable mounts allow "
    "escaping to the node.",
    "Replace the hostPath volume with a PersistentVolumeClaim, emptyDir, ConfigMap or "
    "Secret. If the node path is really needed, mount it read-only:\n"
    "  volumeMounts:\n  - name: host\n    mountPath: /host\n    readOnly: true",
)
SENSITIVE_HOST_PATH = _c(
    "sensitive-host-path",
    "Sensitive host path mounted",
    "critical",
    POD_SECURITY,
    "The pod mounts a node path (the root filesystem, /etc, /proc, the kubelet's data or a "
    "container runtime socket) that gives it control of the node.",
    "Remove the hostPath volume. Talking to the container runtime socket or reading node "
    "credentials is equivalent to root on the node; use a dedicated, audited agent instead.",
)
HOST_PORT = _c(
    "host-port",
    "Container binds a host port",
    "medium",
    POD_SECURITY,
    "A hostPort binds the port on the node's interfaces, bypassing Services and "
    "NetworkPolicies and limiting scheduling to one pod per node.",
    "Remove `hostPort` from the container's `ports` and expose the port through a Service.",
)
SHARE_PROCESS_NAMESPACE = _c(
    "share-process-namespace",
    "Pod shares one process namespace",
    "medium",
    POD_SECURITY,
    "Containers of the pod see each other's processes and filesystems (/proc/<pid>/root), "
    "so a compromised sidecar reaches the main container's secrets.",
    "Remove `shareProcessNamespace: true` from the pod spec unless a debugging sidecar "
    "really needs it.",
)
UNSAFE_SYSCTLS = _c(
    "unsafe-sysctls",
    "Unsafe sysctls set",
    "high",
    POD_SECURITY,
    "Sysctls outside the Pod Security Standards' safe set can affect every workload on the node.",
    "Remove the sysctl from `spec.securityContext.sysctls`, or set it on the node; only "
    "namespaced safe sysctls (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, "
    "net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, ...) belong in a pod.",
)
DEFAULT_SERVICE_ACCOUNT = _c(
    "default-service-account",
    "Default service account used",
    "medium",
    POD_SECURITY,
    "Pods running as the namespace's `default` service account share its permissions with "
    "every other pod that does; permissions granted for one workload leak to all.",
    "Create a dedicated ServiceAccount for the workload and set it:\n"
    "  spec:\n    serviceAccountName: my-app",
)
TOKEN_AUTOMOUNT = _c(
    "service-account-token-automount",
    "Service account token mounted automatically",
    "low",
    POD_SECURITY,
    "Every pod gets an API token mounted unless it opts out; a compromised container can "
    "use it against the API server.",
    "If the workload does not call the Kubernetes API, set:\n"
    "  spec:\n    automountServiceAccountToken: false",
)
SINGLE_REPLICA = _c(
    "single-replica",
    "Single replica",
    "low",
    RELIABILITY,
    "With one replica, every rollout, node drain or crash is an outage.",
    "Run at least two replicas (`spec.replicas: 2`) or scale with a HorizontalPodAutoscaler "
    "with `minReplicas: 2`, and add a PodDisruptionBudget.",
)
WINDOWS_HOST_PROCESS = _c(
    "windows-host-process",
    "Windows HostProcess container",
    "critical",
    POD_SECURITY,
    "A Windows HostProcess container runs directly on the node with host privileges.",
    "Remove `securityContext.windowsOptions.hostProcess: true`.",
)

# --- Pod security: containers ----------------------------------------------------------

PRIVILEGED = _c(
    "privileged-container",
    "Privileged container",
    "critical",
    POD_SECURITY,
    "A privileged container has every capability and all host devices: it is root on the node.",
    "Remove `securityContext.privileged: true`; grant the specific capability needed "
    "instead:\n  securityContext:\n    privileged: false\n    capabilities:\n"
    "      drop: [ALL]\n      add: [NET_BIND_SERVICE]",
)
PRIVILEGE_ESCALATION = _c(
    "privilege-escalation-allowed",
    "Privilege escalation allowed",
    "high",
    POD_SECURITY,
    "Without `allowPrivilegeEscalation: false` a process can gain more privileges than its "
    "parent (setuid binaries, file capabilities).",
    "Set on the container:\n  securityContext:\n    allowPrivilegeEscalation: false",
)
DANGEROUS_CAPABILITIES = _c(
    "dangerous-capabilities",
    "Dangerous capabilities added",
    "high",
    POD_SECURITY,
    "Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE or ALL allow "
    "container escapes or control over the node's network and kernel.",
    "Remove the capability from `securityContext.capabilities.add`; add only what the "
    "process needs (often just NET_BIND_SERVICE).",
)
CAPABILITIES_NOT_DROPPED = _c(
    "capabilities-not-dropped",
    "Capabilities not dropped",
    "medium",
    POD_SECURITY,
    "Containers keep the runtime's default capabilities (NET_RAW, CHOWN, SETUID, ...) "
    "unless they drop them.",
    "Drop all capabilities and add back only what is needed:\n  securityContext:\n"
    "    capabilities:\n      drop: [ALL]",
)
RUN_AS_ROOT = _c(
    "run-as-root",
    "Container runs as root (UID 0)",
    "high",
    POD_SECURITY,
    "`runAsUser: 0` runs the process as root; a container escape then lands as root on the node.",
    "Run as an unprivileged user:\n  securityContext:\n    runAsUser: 10001\n"
    "    runAsNonRoot: true",
)
RUN_AS_NON_ROOT = _c(
    "run-as-non-root-not-set",
    "Container may run as root",
    "medium",
    POD_SECURITY,
    "Neither the pod nor the container sets `runAsNonRoot: true` or a non-zero "
    "`runAsUser`, so the image decides, and many images run as root.",
    "Set at the pod level (or per container):\n  securityContext:\n    runAsNonRoot: true\n"
    "    runAsUser: 10001",
)
WRITABLE_ROOT_FS = _c(
    "writable-root-filesystem",
    "Writable root filesystem",
    "medium",
    POD_SECURITY,
    "A writable root filesystem lets an attacker drop tools and modify binaries.",
    "Set `securityContext.readOnlyRootFilesystem: true` and mount an emptyDir where the "
    "process must write (e.g. /tmp).",
)
PROC_MOUNT = _c(
    "proc-mount-unmasked",
    "Unmasked /proc mount",
    "high",
    POD_SECURITY,
    "`procMount: Unmasked` exposes kernel interfaces under /proc that are normally masked.",
    "Remove `securityContext.procMount` (the default is `Default`).",
)
SELINUX = _c(
    "selinux-custom-options",
    "Custom SELinux options",
    "high",
    POD_SECURITY,
    "SELinux types such as spc_t or unconfined_t, or a custom user or role, lift the "
    "container's SELinux confinement.",
    "Remove `securityContext.seLinuxOptions` or keep `type` to container_t, "
    "container_init_t or container_kvm_t, without `user` or `role`.",
)
SECCOMP_MISSING = _c(
    "seccomp-profile-missing",
    "No seccomp profile",
    "medium",
    POD_SECURITY,
    "Without a seccomp profile the container can use every system call, including rarely "
    "needed ones behind many kernel exploits.",
    "Set the runtime default profile at the pod level:\n  spec:\n    securityContext:\n"
    "      seccompProfile:\n        type: RuntimeDefault",
)
SECCOMP_UNCONFINED = _c(
    "seccomp-unconfined",
    "Seccomp explicitly unconfined",
    "high",
    POD_SECURITY,
    "The seccomp profile is `Unconfined`: every system call is allowed.",
    "Use `seccompProfile: {type: RuntimeDefault}` (or a Localhost profile).",
)
APPARMOR_MISSING = _c(
    "apparmor-profile-missing",
    "No AppArmor profile",
    "low",
    POD_SECURITY,
    "No AppArmor profile is requested; on nodes with AppArmor the runtime default applies, "
    "elsewhere none does.",
    "Request the runtime default explicitly:\n  securityContext:\n    appArmorProfile:\n"
    "      type: RuntimeDefault",
)
APPARMOR_UNCONFINED = _c(
    "apparmor-unconfined",
    "AppArmor explicitly unconfined",
    "high",
    POD_SECURITY,
    "The container runs without AppArmor confinement.",
    "Use `appArmorProfile: {type: RuntimeDefault}` (or remove the "
    "`container.apparmor.security.beta.kubernetes.io/<container>: unconfined` annotation).",
)
SECRET_IN_ENV = _c(
    "secret-in-env",
    "Secret in a plain environment variable",
    "high",
    POD_SECURITY,
    "A credential written as a literal `value` lives in the manifest, in Git and in the "
    "API server's object, readable by anyone who can read the workload.",
    "Move the value to a Secret and reference it:\n  env:\n  - name: DB_PASSWORD\n"
    "    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password",
)

# --- Resources and probes --------------------------------------------------------------

CPU_REQUESTS = _c(
    "cpu-requests-missing",
    "CPU request missing",
    "low",
    RESOURCES,
    "Without a CPU request the scheduler cannot place the pod sensibly and it gets the "
    "lowest share under contention.",
    "Set `resources.requests.cpu`, e.g.:\n  resources:\n    requests:\n      cpu: 100m",
)
MEMORY_REQUESTS = _c(
    "memory-requests-missing",
    "Memory request missing",
    "low",
    RESOURCES,
    "Without a memory request the pod can be scheduled onto a full node and is evicted first.",
    "Set `resources.requests.memory`, e.g.:\n  resources:\n    requests:\n      memory: 128Mi",
)
CPU_LIMITS = _c(
    "cpu-limits-missing",
    "CPU limit missing",
    "low",
    RESOURCES,
    "Without a CPU limit one container can starve its neighbours on the node.",
    "Set `resources.limits.cpu` (or enforce a namespace LimitRange).",
)
MEMORY_LIMITS = _c(
    "memory-limits-missing",
    "Memory limit missing",
    "medium",
    RESOURCES,
    "Without a memory limit a leak or an attacker can exhaust the node's memory and get "
    "other pods OOM-killed.",
    "Set `resources.limits.memory`, e.g.:\n  resources:\n    limits:\n      memory: 256Mi",
)
LIVENESS_PROBE = _c(
    "liveness-probe-missing",
    "Liveness probe missing",
    "low",
    RELIABILITY,
    "A hung process is never restarted without a liveness probe.",
    "Add a livenessProbe, e.g.:\n  livenessProbe:\n    httpGet:\n      path: /healthz\n"
    "      port: 8080\n    periodSeconds: 10",
)
READINESS_PROBE = _c(
    "readiness-probe-missing",
    "Readiness probe missing",
    "low",
    RELIABILITY,
    "Without a readiness probe the pod receives traffic before it can serve it, and during "
    "rollouts.",
    "Add a readinessProbe, e.g.:\n  readinessProbe:\n    httpGet:\n      path: /ready\n"
    "      port: 8080",
)

# --- Images ----------------------------------------------------------------------------

IMAGE_TAG_LATEST = _c(
    "image-tag-latest",
    "Image uses latest or no tag",
    "medium",
    SUPPLY_CHAIN,
    "`latest` (or no tag) is a moving target: what runs is not what was reviewed, and "
    "rollbacks do not roll back.",
    "Pin the image to a version tag, better to a digest: "
    "`image: registry.example.com/app:1.4.2@sha256:...`.",
)
IMAGE_PULL_POLICY = _c(
    "image-pull-policy-not-always",
    "Mutable tag not always pulled",
    "low",
    SUPPLY_CHAIN,
    "With a `latest` tag and `imagePullPolicy` other than Always, nodes run whichever "
    "`latest` they pulled first: replicas differ.",
    "Pin the tag, or set `imagePullPolicy: Always`.",
)
UNTRUSTED_REGISTRY = _c(
    "untrusted-registry",
    "Image from an untrusted registry",
    "medium",
    SUPPLY_CHAIN,
    "The image comes from a registry or repository that is not on the trusted list.",
    "Mirror the image into a trusted registry and reference it there, or add the registry "
    "to the trusted registries if it is vetted.",
)

# --- RBAC ------------------------------------------------------------------------------

RBAC_WILDCARD_VERBS = _c(
    "rbac-wildcard-verbs",
    "Role grants all verbs",
    "high",
    RBAC,
    "`verbs: ['*']` grants every current and future verb, including escalate, bind and "
    "impersonate where they apply.",
    "List the verbs needed, e.g. `verbs: [get, list, watch]`.",
)
RBAC_WILDCARD_RESOURCES = _c(
    "rbac-wildcard-resources",
    "Role grants all resources",
    "high",
    RBAC,
    "`resources: ['*']` covers every resource of the API groups, secrets included, and "
    "every resource added later.",
    "List the resources needed, e.g. `resources: [configmaps]`.",
)
RBAC_WILDCARD_API_GROUPS = _c(
    "rbac-wildcard-api-groups",
    "Role grants all API groups",
    "medium",
    RBAC,
    "`apiGroups: ['*']` covers every API group, including CRDs installed later.",
    "List the API groups needed, e.g. `apiGroups: ['', apps]`.",
)
RBAC_SECRETS = _c(
    "rbac-secrets-read",
    "Role can read secrets",
    "high",
    RBAC,
    "get/list/watch on secrets exposes every credential of the namespace (or cluster), "
    "service account tokens included.",
    "Remove secrets from the rule, or restrict `get` to named secrets with "
    "`resourceNames: [my-secret]` (list and watch cannot be restricted).",
)
RBAC_POD_EXEC = _c(
    "rbac-pod-exec",
    "Role can exec into pods",
    "high",
    RBAC,
    "pods/exec and pods/attach give a shell in any pod the role reaches, with that pod's "
    "service account and secrets.",
    "Remove pods/exec and pods/attach from the rule; grant them only to break-glass roles.",
)
RBAC_ESCALATION_VERBS = _c(
    "rbac-escalate-bind-impersonate",
    "Role can escalate, bind or impersonate",
    "critical",
    RBAC,
    "escalate and bind let the holder grant itself any permission; impersonate lets it act "
    "as any user, group or service account.",
    "Remove the escalate, bind and impersonate verbs; if needed, restrict them with "
    "`resourceNames`.",
)
RBAC_CREATE_PODS = _c(
    "rbac-create-pods",
    "Role can create workloads",
    "medium",
    RBAC,
    "Whoever can create pods (or Deployments, Jobs, ...) can run them as any service "
    "account of the namespace and mount its secrets: a privilege escalation path.",
    "Grant workload creation only to deployment tooling; enforce Pod Security Admission "
    "`restricted` in the namespace.",
)
RBAC_NODES_PROXY = _c(
    "rbac-nodes-proxy",
    "Role can use nodes/proxy",
    "high",
    RBAC,
    "nodes/proxy reaches the kubelet API, which can run commands in any pod on the node, "
    "bypassing audit logging and admission.",
    "Remove nodes/proxy from the rule; use nodes/metrics or nodes/stats for monitoring.",
)
RBAC_SA_TOKEN = _c(
    "rbac-create-tokens",
    "Role can mint service account tokens",
    "high",
    RBAC,
    "create on serviceaccounts/token issues tokens for any service account the role "
    "reaches, and so borrows their permissions.",
    "Remove serviceaccounts/token from the rule or restrict it with `resourceNames`.",
)
CLUSTER_ADMIN_BINDING = _c(
    "cluster-admin-binding",
    "Binding to cluster-admin",
    "critical",
    RBAC,
    "cluster-admin is unrestricted superuser access (bound with a RoleBinding: full control "
    "of the namespace).",
    "Bind a role with only the permissions needed instead of cluster-admin.",
)
ANONYMOUS_BINDING = _c(
    "anonymous-access-binding",
    "Binding grants anonymous access",
    "critical",
    RBAC,
    "Subjects system:anonymous or system:unauthenticated are anyone who can reach the API "
    "server, without credentials.",
    "Remove the subject from the binding.",
)
AUTHENTICATED_BINDING = _c(
    "authenticated-group-binding",
    "Binding grants every authenticated identity",
    "high",
    RBAC,
    "The system:authenticated group is every user and every service account token of the "
    "cluster (and on some managed clusters, any cloud account).",
    "Bind the role to the specific users, groups or service accounts that need it.",
)

# --- Network ---------------------------------------------------------------------------

INGRESS_NO_TLS = _c(
    "ingress-no-tls",
    "Ingress without TLS",
    "medium",
    NETWORK,
    "Traffic to the Ingress travels unencrypted.",
    "Add a TLS section:\n  spec:\n    tls:\n    - hosts: [app.example.com]\n"
    "      secretName: app-tls",
)
INGRESS_WILDCARD_HOST = _c(
    "ingress-wildcard-host",
    "Ingress with a wildcard or no host",
    "medium",
    NETWORK,
    "A rule with a wildcard host or no host answers for any hostname pointing at the "
    "controller, which makes host-header attacks and accidental exposure easier.",
    "Give every rule an explicit `host: app.example.com`.",
)
INGRESS_TLS_MISSING_HOST = _c(
    "ingress-tls-missing-host",
    "Ingress host without TLS",
    "medium",
    NETWORK,
    "The Ingress has TLS, but not for this host: its traffic is unencrypted.",
    "Add the host to a `spec.tls[].hosts` entry with a certificate that covers it.",
)
SERVICE_NODE_PORT = _c(
    "service-node-port",
    "NodePort Service",
    "low",
    NETWORK,
    "A NodePort opens the port on every node, usually outside ingress controls and "
    "firewalls meant for the cluster's front door.",
    "Use `type: ClusterIP` behind an Ingress or a LoadBalancer with `loadBalancerSourceRanges`.",
)
SERVICE_LOAD_BALANCER = _c(
    "service-load-balancer",
    "LoadBalancer Service",
    "low",
    NETWORK,
    "The Service is exposed through a cloud load balancer (restricted by source ranges or "
    "internal).",
    "Check the source ranges are still right; prefer a shared Ingress for HTTP.",
)
SERVICE_LOAD_BALANCER_OPEN = _c(
    "service-load-balancer-open",
    "LoadBalancer Service open to the world",
    "high",
    NETWORK,
    "The Service gets a public load balancer reachable from any address.",
    "Restrict the clients:\n  spec:\n    loadBalancerSourceRanges:\n    - 203.0.113.0/24\n"
    "or make the load balancer internal with your provider's annotation.",
)
SERVICE_EXTERNAL_IPS = _c(
    "service-external-ips",
    "Service with externalIPs",
    "high",
    NETWORK,
    "externalIPs let a Service capture traffic for any IP address in the cluster (CVE-2020-8554).",
    "Remove `spec.externalIPs`; use a LoadBalancer, and block externalIPs with an "
    "admission policy.",
)
NAMESPACE_NO_NETWORK_POLICY = _c(
    "namespace-no-network-policy",
    "Namespace without NetworkPolicy",
    "medium",
    NETWORK,
    "Without a NetworkPolicy every pod in the namespace accepts traffic from every pod in "
    "the cluster.",
    "Add a default-deny policy and allow what is needed:\n  apiVersion: "
    "networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata:\n    name: default-deny\n"
    "  spec:\n    podSelector: {}\n    policyTypes: [Ingress, Egress]",
)
NAMESPACE_NO_PSA = _c(
    "namespace-no-pod-security",
    "Namespace without Pod Security Admission",
    "medium",
    POD_SECURITY,
    "No `pod-security.kubernetes.io/enforce` label: the cluster default applies, which is "
    "usually `privileged` (nothing enforced).",
    "Label the namespace:\n  metadata:\n    labels:\n"
    "      pod-security.kubernetes.io/enforce: restricted",
)
NAMESPACE_PSA_PRIVILEGED = _c(
    "namespace-pod-security-privileged",
    "Namespace enforces the privileged level",
    "high",
    POD_SECURITY,
    "`pod-security.kubernetes.io/enforce: privileged` allows any pod, privileged ones included.",
    "Enforce `baseline` or `restricted`:\n  metadata:\n    labels:\n"
    "      pod-security.kubernetes.io/enforce: restricted",
)

CHECKS: Mapping[str, CheckInfo] = MappingProxyType({c.id: c for c in _ENTRIES})
"""Every built-in check by id."""

assert len(CHECKS) == len(_ENTRIES), "duplicate check id"
