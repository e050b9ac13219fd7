"""A small realistic cluster as kguardian's controller reports it, for network tests and
benchmarks.

Namespace ``shop``: a three-tier app, frontend (Deployment, 2 pods) -> api (Deployment,
behind Service ``api`` 80 -> 8080) -> postgres (StatefulSet, behind Service ``postgres``
5432 -> the named port ``postgresql``); every pod resolves names through kube-dns
(``kube-system``), api calls one external API (203.0.113.50:443), the frontend is reached
from the internet (198.51.100.7). The address 10.244.2.99 is first held by a report Job's
pod, then (from 10:00) by a second api pod: postgres saw both connect from it.
Namespace ``ledger``: under a default-deny policy; its pod resolves names (allowed) and
its calls to postgres are dropped.

Every body is kguardian's wire shape (``PodDetail``, ``SvcDetail``, ``PodTraffic``,
``PodInputSyscalls``) with values already in their normalised form, so a store can take
them as ingest forwards them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

DAY = "2026-05-12"


def at(clock: str) -> str:
    """``HH:MM:SS`` of the world's day as a stored time."""
    return f"{DAY}T{clock}.000000"


def _pod(
    name: str,
    namespace: str,
    ip: str,
    labels: dict[str, str],
    owner: tuple[str, str] | None,
    since: str = "08:00:00",
    **fields: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "pod_name": name,
        "pod_ip": ip,
        "pod_ips": [ip],
        "pod_namespace": namespace,
        "pod_obj": {"metadata": meta},
        "time_stamp": at(since),
        "node_name": "node-a",
        "is_dead": False,
    } | fields


FRONTEND_A = "frontend-6d4c8b7f9-abcde"
FRONTEND_B = "frontend-6d4c8b7f9-fghij"
API = "api-7f8d9c6b5-klmno"
API_LATE = "api-7f8d9c6b5-pqrst"
POSTGRES = "postgres-0"
REPORT = "report-29118240-zx8k2"
COREDNS = "coredns-5d78c9869d-q2w3e"
LEDGER = "ledger-84b5d6f7c-v9b8n"
REUSED_IP = "10.244.2.99"
EXTERNAL_API = "203.0.113.50"
INTERNET_CLIENT = "198.51.100.7"

_FRONTEND = {"app": "frontend", "tier": "web", "pod-template-hash": "6d4c8b7f9"}
_API = {"app": "api", "tier": "backend", "pod-template-hash": "7f8d9c6b5"}

PODS: list[dict[str, Any]] = [
    # The controller names the workload of some pods; others are known by their owner.
    _pod(FRONTEND_A, "shop", "10.244.1.10", _FRONTEND, ("ReplicaSet", "frontend-6d4c8b7f9")),
    _pod(
        FRONTEND_B,
        "shop",
        "10.244.2.11",
        _FRONTEND,
        ("ReplicaSet", "frontend-6d4c8b7f9"),
        workload_kind="Deployment",
        workload_name="frontend",
    ),
    _pod(API, "shop", "10.244.1.20", _API, ("ReplicaSet", "api-7f8d9c6b5")),
    _pod(
        POSTGRES,
        "shop",
        "10.244.3.30",
        {
            "app": "postgres",
            "statefulset.kubernetes.io/pod-name": POSTGRES,
            "controller-revision-hash": "postgres-5c9b7d",
        },
        ("StatefulSet", "postgres"),
    ),
    _pod(
        REPORT,
        "shop",
        REUSED_IP,
        {"app": "report", "job-name": "report-29118240", "controller-uid": "3f1e"},
        ("Job", "report-29118240"),
        since="09:00:00",
        workload_kind="CronJob",
        workload_name="report",
    ),
    # Takes the address over at 10:00: the report pod's interval ends then.
    _pod(API_LATE, "shop", REUSED_IP, _API, ("ReplicaSet", "api-7f8d9c6b5"), since="10:00:00"),
    _pod(
        COREDNS,
        "kube-system",
        "10.244.0.5",
        {"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"},
        ("ReplicaSet", "coredns-5d78c9869d"),
    ),
    _pod(
        LEDGER,
        "ledger",
        "10.244.4.40",
        {"app": "ledger", "pod-template-hash": "84b5d6f7c"},
        ("ReplicaSet", "ledger-84b5d6f7c"),
    ),
]


def _svc(
    ip: str, name: str, namespace: str, selector: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "svc_ip": ip,
        "svc_name": name,
        "svc_namespace": namespace,
        "service_spec": {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": ip, "selector": selector, "ports": ports},
        },
        "time_stamp": at("08:00:00"),
    }


SERVICES: list[dict[str, Any]] = [
    _svc(
        "10.96.10.20",
        "api",
        "shop",
        {"app": "api"},
        [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    ),
    _svc(
        "10.96.10.30",
        "postgres",
        "shop",
        {"app": "postgres"},
        [{"name": "pg", "port": 5432, "targetPort": "postgresql", "protocol": "TCP"}],
    ),
    _svc(
        "10.96.0.10",
        "kube-dns",
        "kube-system",
        {"k8s-app": "kube-dns"},
        [
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
        ],
    ),
]

_IPS = {pod["pod_name"]: pod["pod_ip"] for pod in PODS}


def flow(
    n: int,
    pod: str,
    namespace: str,
    direction: str,
    peer: str,
    pod_port: str,
    peer_port: str,
    protocol: str = "TCP",
    clock: str = "10:30:00",
    decision: str = "ALLOW",
) -> dict[str, Any]:
    """One ``PodTraffic`` event observed by ``pod``."""
    return {
        "uuid": f"6f1c2a4e-0000-4000-8000-{n:012d}",
        "pod_name": pod,
        "pod_namespace": namespace,
        "pod_ip": _IPS.get(pod, "10.244.9.9") if pod != API_LATE else REUSED_IP,
        "pod_port": pod_port,
        "traffic_type": direction,
        "traffic_in_out_ip": peer,
        "traffic_in_out_port": peer_port,
        "ip_protocol": protocol,
        "decision": decision,
        "time_stamp": at(clock),
    }


def traffic() -> list[dict[str, Any]]:
    """Every flow of the world (client ports differ per connection, as on a real node)."""
    events = [
        # internet -> frontend, frontend -> api (Service), both frontend pods
        flow(1, FRONTEND_A, "shop", "INGRESS", INTERNET_CLIENT, "8080", "51000"),
        flow(2, FRONTEND_A, "shop", "EGRESS", "10.96.10.20", "41234", "80"),
        flow(3, FRONTEND_B, "shop", "EGRESS", "10.96.10.20", "41300", "80"),
        flow(4, FRONTEND_A, "shop", "EGRESS", "10.96.0.10", "38001", "53", "UDP"),
        flow(5, FRONTEND_B, "shop", "EGRESS", "10.96.0.10", "38002", "53", "UDP"),
        # api: served to both frontends, calls postgres (Service), DNS and the external API
        flow(6, API, "shop", "INGRESS", "10.244.1.10", "8080", "41234"),
        flow(7, API, "shop", "INGRESS", "10.244.2.11", "8080", "41300"),
        flow(8, API, "shop", "EGRESS", "10.96.10.30", "50000", "5432"),
        flow(9, API, "shop", "EGRESS", "10.96.0.10", "38003", "53", "UDP"),
        flow(10, API, "shop", "EGRESS", EXTERNAL_API, "50100", "443"),
        flow(11, API_LATE, "shop", "EGRESS", "10.96.10.30", "50200", "5432"),
        flow(12, API_LATE, "shop", "INGRESS", "10.244.1.10", "8080", "41500"),
        # postgres: from api, and from 10.244.2.99 before (report job) and after (api) 10:00
        flow(13, POSTGRES, "shop", "INGRESS", "10.244.1.20", "5432", "50000"),
        flow(14, POSTGRES, "shop", "INGRESS", REUSED_IP, "5432", "47000", clock="09:30:00"),
        flow(15, POSTGRES, "shop", "INGRESS", REUSED_IP, "5432", "50200", clock="10:30:00"),
        flow(16, REPORT, "shop", "EGRESS", "10.96.10.30", "47000", "5432", clock="09:30:00"),
        # ledger: DNS allowed, postgres dropped by its namespace's default deny
        flow(17, LEDGER, "ledger", "EGRESS", "10.96.0.10", "38004", "53", "UDP"),
        flow(18, LEDGER, "ledger", "EGRESS", "10.96.10.30", "52000", "5432", decision="DROP"),
        flow(19, LEDGER, "ledger", "EGRESS", "10.96.10.30", "52001", "5432", decision="DROP"),
        # loopback is never a rule
        flow(20, API, "shop", "EGRESS", "127.0.0.1", "52100", "9090"),
    ]
    return events


LEDGER_DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "ledger"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

SYSCALLS: list[dict[str, Any]] = [
    {
        "pod_name": API,
        "pod_namespace": "shop",
        "syscalls": ["read", "write", "openat", "close", "epoll_wait", "accept4", "read"],
        "arch": "x86_64",
        "time_stamp": at("10:00:00"),
    }
]


LEDGER_CRASH_LOG = (
    "2026-05-12T10:31:40Z INFO ledger starting, database postgres.shop.svc.cluster.local:5432\n"
    "2026-05-12T10:32:10Z ERROR failed to connect to `host=postgres.shop.svc.cluster.local "
    "user=ledger database=ledger`: dial error (dial tcp 10.96.10.30:5432: i/o timeout)\n"
    "panic: dial tcp 10.96.10.30:5432: i/o timeout\n"
)
"""What the ledger pod prints before it exits: its calls to postgres time out (they are
dropped by its namespace's default deny)."""


def ledger_crash(pod_name: str = LEDGER, namespace: str = "ledger") -> dict[str, Any]:
    """The Kure agent's report of the ledger pod in CrashLoopBackOff (its logs time out to
    postgres)."""
    return {
        "pod_name": pod_name,
        "namespace": namespace,
        "node_name": "node-a",
        "phase": "Running",
        "creation_timestamp": f"{DAY}T08:00:00Z",
        "failure_reason": "CrashLoopBackOff",
        "failure_message": "back-off 40s restarting failed container=ledger",
        "container_statuses": [
            {
                "name": "ledger",
                "ready": False,
                "restart_count": 4,
                "image": "ghcr.io/acme/ledger:1.8.2",
                "state": "waiting",
                "reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container=ledger",
                "last_state": "terminated",
                "last_reason": "Error",
                "last_exit_code": 2,
            }
        ],
        "events": [
            {
                "type": "Warning",
                "reason": "BackOff",
                "message": "Back-off restarting failed container ledger",
                "count": 6,
            }
        ],
        "logs": LEDGER_CRASH_LOG,
        "manifest": None,
    }


def shifted(bodies: list[dict[str, Any]], delta: timedelta) -> list[dict[str, Any]]:
    """``bodies`` with every ``time_stamp`` moved by ``delta`` (to place the world's day
    around the wall clock, as a live failure report is)."""
    moved = []
    for body in bodies:
        at = datetime.strptime(body["time_stamp"], "%Y-%m-%dT%H:%M:%S.%f") + delta
        moved.append(body | {"time_stamp": at.strftime("%Y-%m-%dT%H:%M:%S.%f")})
    return moved


def delta_to(now: datetime, clock: str = "10:33:00") -> timedelta:
    """The shift that puts the world's ``clock`` at ``now`` (naive UTC)."""
    return now - datetime.strptime(at(clock), "%Y-%m-%dT%H:%M:%S.%f")
