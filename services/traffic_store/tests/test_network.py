"""Integration tests: policy suggestion, audit and seccomp over flows and the kguardian
inventory stored in a real MongoDB wire server (the cluster of ``devstack.cluster_world``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from kubernetes.client import ApiClient
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack import cluster_world as world
from kubeward.schemas.inventory import InventoryGroup, SvcDetail
from kubeward.schemas.network import PolicyAuditRequest, PolicySuggestQuery, SeccompQuery
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.inventory import InventoryStore
from kubeward.traffic_store.network_service import NetworkService
from kubeward.traffic_store.pod_traffic import COLLECTION, PodTrafficStore

LoadWorld = Callable[..., Awaitable[None]]
"""conftest's ``load_world``."""


def _records(kind: Any, bodies: list[dict[str, Any]], shape: type) -> InventoryGroup:
    records = [msgspec.json.encode(msgspec.convert(b, shape)) for b in bodies]
    return InventoryGroup(1, 1_778_580_000_000_000, None, kind, records)


@pytest.fixture
async def service(
    mongo: AsyncMongoClient[Document], mongo_db_name: str, load_world: LoadWorld
) -> AsyncIterator[NetworkService]:
    """The network responders' handlers on a database holding the world."""
    db = mongo[mongo_db_name]
    await load_world(db)
    yield NetworkService(db)
    await mongo.drop_database(mongo_db_name)


def body(reply: Any) -> Any:
    assert reply.status == 200, reply.detail
    return msgspec.json.decode(reply.body)


def by_workload(policies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["annotations"]["kubeward.io/workload"]: p for p in policies}


def valid_network_policy(obj: dict[str, Any]) -> Any:
    """The object deserialised into the official client's ``V1NetworkPolicy`` (its models
    check required fields and types), and serialised back unchanged."""
    client = ApiClient()
    model = client._ApiClient__deserialize(obj, "V1NetworkPolicy")  # type: ignore[attr-defined]
    assert client.sanitize_for_serialization(model) == obj
    return model


async def test_three_tier_app_gets_least_privilege_policies(service: NetworkService) -> None:
    answer = body(await service.suggest(PolicySuggestQuery(namespace="shop")))
    policies = by_workload(answer["policies"])
    assert sorted(policies) == [
        "CronJob/report",
        "Deployment/api",
        "Deployment/frontend",
        "StatefulSet/postgres",
    ]
    for policy in answer["policies"]:
        valid_network_policy(policy)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        for label in ("pod-template-hash", "controller-revision-hash", "job-name"):
            assert label not in str(policy["spec"]["podSelector"])

    frontend = policies["Deployment/frontend"]["spec"]
    assert frontend["podSelector"] == {"matchLabels": {"app": "frontend", "tier": "web"}}
    assert frontend["ingress"] == [
        {
            "from": [{"ipBlock": {"cidr": "198.51.100.7/32"}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    dns = {
        "to": [
            {
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
            }
        ],
        "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
    }
    to_api = {  # through the Service: the pods behind it and its target port (not the client's)
        "to": [{"podSelector": {"matchLabels": {"app": "api", "tier": "backend"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
    assert frontend["egress"] == [dns, to_api]

    api = policies["Deployment/api"]["spec"]
    assert api["podSelector"] == {"matchLabels": {"app": "api", "tier": "backend"}}
    assert api["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app": "frontend", "tier": "web"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    assert api["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.50/32"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        dns,
        {  # the Service names its target port: the rule names it too
            "to": [{"podSelector": {"matchLabels": {"app": "postgres"}}}],
            "ports": [{"protocol": "TCP", "port": "postgresql"}],
        },
    ]

    # 10.244.2.99 was the report job's until 10:00, then an api pod's: both are allowed in
    postgres = policies["StatefulSet/postgres"]["spec"]
    assert postgres["podSelector"] == {"matchLabels": {"app": "postgres"}}
    assert [rule["from"][0]["podSelector"]["matchLabels"] for rule in postgres["ingress"]] == [
        {"app": "report"},
        {"app": "api", "tier": "backend"},
    ]
    assert postgres["egress"] == []
    assert answer["unresolved"] == [
        {
            "peer": "198.51.100.7",
            "reason": "no pod or Service held this address (outside the cluster?)",
        },
        {
            "peer": "203.0.113.50",
            "reason": "no pod or Service held this address (outside the cluster?)",
        },
    ]
    assert answer["flows_used"] == 16  # the world's ALLOW flows in shop, minus loopback


async def test_generated_policies_audit_clean_and_a_default_deny_blocks_what_it_should(
    service: NetworkService,
) -> None:
    for fmt in ("kubernetes", "cilium"):
        fmt_q = PolicySuggestQuery(namespace="shop", format=fmt)  # type: ignore[arg-type]
        policies = body(await service.suggest(fmt_q))["policies"]
        verdict = body(await service.audit(PolicyAuditRequest(policies=policies)))
        assert verdict == {"evaluated": 16, "would_allow": 16, "would_deny": []}, fmt

    verdict = body(await service.audit(PolicyAuditRequest(policies=[world.LEDGER_DEFAULT_DENY])))
    assert verdict["evaluated"] == 1  # dropped flows are already blocked: not evaluated
    assert verdict["would_deny"] == [
        {
            "pod_name": world.LEDGER,
            "pod_namespace": "ledger",
            "traffic_type": "EGRESS",
            "peer": "10.96.0.10",
            "peer_workload": "kube-system/Deployment/coredns",
            "port": "53",
            "ip_protocol": "UDP",
            "hits": 1,
            "last_seen": world.at("10:30:00"),
        }
    ]
    # the ledger's own suggestion allows its DNS and nothing of what was dropped
    ledger = body(await service.suggest(PolicySuggestQuery(namespace="ledger")))
    assert [rule["ports"] for rule in ledger["policies"][0]["spec"]["egress"]] == [
        [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]
    ]


async def test_one_workload_and_the_time_window(service: NetworkService) -> None:
    one = PolicySuggestQuery(namespace="shop", kind="StatefulSet", name="postgres")
    answer = body(await service.suggest(one))
    assert [p["metadata"]["name"] for p in answer["policies"]] == [
        "statefulset-postgres-least-privilege"
    ]
    assert answer["flows_used"] == 3
    before_ten = msgspec.structs.replace(one, until=world.at("10:00:00"))
    early = body(await service.suggest(before_ten))["policies"][0]["spec"]["ingress"]
    assert [r["from"][0]["podSelector"]["matchLabels"] for r in early] == [{"app": "report"}]
    after_ten = msgspec.structs.replace(one, since=world.at("10:00:00"))
    late = body(await service.suggest(after_ten))["policies"][0]["spec"]["ingress"]
    assert {"app": "report"} not in [r["from"][0]["podSelector"]["matchLabels"] for r in late]
    cilium = body(await service.suggest(msgspec.structs.replace(one, format="cilium")))
    policy = cilium["policies"][0]
    assert policy["apiVersion"] == "cilium.io/v2" and policy["kind"] == "CiliumNetworkPolicy"
    assert policy["spec"]["endpointSelector"] == {"matchLabels": {"k8s:app": "postgres"}}
    assert policy["spec"]["egress"] == [{}]
    assert policy["spec"]["ingress"][0] == {
        "fromEndpoints": [
            {"matchLabels": {"k8s:app": "report", "k8s:io.kubernetes.pod.namespace": "shop"}}
        ],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
    }
    nothing = body(await service.suggest(PolicySuggestQuery(namespace="empty")))
    assert nothing == {"policies": [], "flows_used": 0, "unresolved": []}


async def test_audit_refuses_what_it_cannot_read(service: NetworkService) -> None:
    reply = await service.audit(
        PolicyAuditRequest(policies=[{"apiVersion": "v1", "kind": "ConfigMap"}])
    )
    assert reply.status == 400
    assert "not a networking.k8s.io/v1 NetworkPolicy" in (reply.detail or "")
    missing = dict(world.LEDGER_DEFAULT_DENY, metadata={"name": "x"})
    reply = await service.audit(PolicyAuditRequest(policies=[missing]))
    assert reply.status == 400 and "metadata.namespace is required" in (reply.detail or "")


async def test_seccomp_profile_from_observed_syscalls(service: NetworkService) -> None:
    profile = body(await service.seccomp(SeccompQuery(namespace="shop", pod=world.API)))
    assert profile == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {
                "names": ["accept4", "close", "epoll_wait", "openat", "read", "write"],
                "action": "SCMP_ACT_ALLOW",
            }
        ],
    }
    for namespace, pod in (("shop", world.POSTGRES), ("ledger", world.API)):
        reply = await service.seccomp(SeccompQuery(namespace=namespace, pod=pod))
        assert reply.status == 404
        assert f"No syscalls observed for pod {pod} in namespace {namespace}" in (
            reply.detail or ""
        )


async def test_a_service_without_known_pods_is_named_by_its_selector(
    service: NetworkService, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    db = mongo[mongo_db_name]
    legacy = world._svc(
        "10.96.10.99", "legacy", "shop", {"app": "legacy"}, [{"port": 8443, "targetPort": 443}]
    )
    await InventoryStore(db).apply(_records("svc-spec", [legacy], SvcDetail))
    call = world.flow(99, world.API, "shop", "EGRESS", "10.96.10.99", "51000", "8443")
    await PodTrafficStore(db[COLLECTION], 32768).write(
        [(2, PodTrafficBatch([PodTrafficGroup(2, None, [msgspec.convert(call, PodTrafficEvent)])]))]
    )
    one = PolicySuggestQuery(namespace="shop", kind="Deployment", name="api")
    policy = body(await service.suggest(one))["policies"][0]
    assert {
        "to": [{"podSelector": {"matchLabels": {"app": "legacy"}}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    } in policy["spec"]["egress"]
    deny_egress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "no-legacy", "namespace": "shop"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "postgres"}}}]}],
        },
    }
    verdict = body(await service.audit(PolicyAuditRequest(policies=[deny_egress])))
    assert {(d["peer_workload"], d["port"]) for d in verdict["would_deny"]} == {
        ("shop/Service/legacy", "8443"),
        ("kube-system/Deployment/coredns", "53"),
        (None, "443"),
    }


async def test_one_flow_across_an_address_handover_names_each_holder_in_its_window(
    service: NetworkService, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    # The same 7-tuple from 10.244.2.99 before and after it passed from the report job's
    # pod to the api's: one stored flow, first seen 09:30, last seen 10:30.
    sightings = [
        world.flow(n, world.POSTGRES, "shop", "INGRESS", world.REUSED_IP, "6432", "47777", clock=c)
        for n, c in ((101, "09:30:00"), (102, "10:30:00"))
    ]
    events = msgspec.convert(sightings, list[PodTrafficEvent])
    store = PodTrafficStore(mongo[mongo_db_name][COLLECTION], 32768)
    await store.write([(3, PodTrafficBatch([PodTrafficGroup(3, None, events)]))])
    query = PolicySuggestQuery(namespace="shop", kind="StatefulSet", name="postgres")

    async def ports_by_peer(**window: str) -> dict[str, list[Any]]:
        answer = body(await service.suggest(msgspec.structs.replace(query, **window)))
        return {
            rule["from"][0]["podSelector"]["matchLabels"]["app"]: [p["port"] for p in rule["ports"]]
            for rule in answer["policies"][0]["spec"]["ingress"]
        }

    assert await ports_by_peer() == {"report": [5432, 6432], "api": [5432, 6432]}
    assert await ports_by_peer(since=world.at("10:00:00")) == {"api": [5432, 6432]}
    assert await ports_by_peer(until=world.at("10:00:00")) == {"report": [5432, 6432]}
