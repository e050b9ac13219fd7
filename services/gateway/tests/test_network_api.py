"""End to end: ``/api/network/policy``, ``/api/network/audit`` and ``/api/seccomp`` over what
kguardian's controller posted (the cluster of ``devstack.cluster_world``), through ingest and
traffic-store on real NATS and MongoDB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
import yaml
from kubernetes.client import ApiClient

from kubeward.devstack import cluster_world as world
from kubeward.devstack.testing import kguardian_wire as wire

TOKEN = "svc-token"  # the gateway_settings fixture's
SERVICE = {"X-Service-Token": TOKEN, "content-type": "application/json"}
ADMIN = {"username": "root", "password": "correct horse battery"}
BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def api(backed_gateway: BackedGateway) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in admin on a stack holding the world, posted as the controller posts it."""
    async with backed_gateway("ingest", "traffic-store") as client:
        for pod in world.PODS:
            resp = await client.post("/pod/spec", content=wire(pod), headers=SERVICE)
            assert resp.status_code == 200, resp.text
        for svc in world.SERVICES:
            resp = await client.post("/svc/spec", content=wire(svc), headers=SERVICE)
            assert resp.status_code == 200, resp.text
        sent = await client.post(
            "/pod/traffic/batch", content=wire(world.traffic()), headers=SERVICE
        )
        assert sent.json() == len(world.traffic())
        resp = await client.post("/pod/syscalls", content=wire(world.SYSCALLS), headers=SERVICE)
        assert resp.status_code == 200, resp.text
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        yield client


async def test_suggest_then_audit_over_http(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/network/policy", params={"namespace": "shop"})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert list(answer) == ["policies", "yaml", "flows_used", "unresolved"]
    assert list(yaml.safe_load_all(answer["yaml"])) == answer["policies"]
    assert answer["flows_used"] == 16
    client = ApiClient()
    for policy in answer["policies"]:
        model = client._ApiClient__deserialize(policy, "V1NetworkPolicy")
        assert client.sanitize_for_serialization(model) == policy

    audited = await api.post("/api/network/audit", json={"policy": answer["yaml"]})
    assert audited.status_code == 200, audited.text
    assert audited.json() == {"evaluated": 16, "would_allow": 16, "would_deny": []}

    # drop the api's rule for its external API: exactly that flow would be denied
    api_policy = next(
        p
        for p in answer["policies"]
        if p["metadata"]["annotations"]["kubeward.io/workload"] == "Deployment/api"
    )
    api_policy["spec"]["egress"] = [
        r for r in api_policy["spec"]["egress"] if "ipBlock" not in r["to"][0]
    ]
    narrowed = await api.post(
        "/api/network/audit",
        json={"policy": yaml.safe_dump(api_policy), "since": "2026-05-12T00:00:00Z"},
    )
    denied = narrowed.json()["would_deny"]
    assert [(d["pod_name"], d["peer"], d["port"], d["peer_workload"]) for d in denied] == [
        (world.API, world.EXTERNAL_API, "443", None)
    ]

    cilium = await api.get(
        "/api/network/policy",
        params={"namespace": "shop", "kind": "deployment", "name": "api", "format": "cilium"},
    )
    assert cilium.status_code == 200, cilium.text
    assert [p["kind"] for p in cilium.json()["policies"]] == ["CiliumNetworkPolicy"]
    audited = await api.post("/api/network/audit", json={"policy": cilium.json()["yaml"]})
    assert audited.json()["would_deny"] == []

    covered = await api.get("/api/network/policy", params={"namespace": "shop", "cidr": "cover"})
    assert covered.status_code == 200, covered.text
    assert covered.json()["flows_used"] == 16

    deny_all = yaml.safe_dump(world.LEDGER_DEFAULT_DENY)
    ledger = (await api.post("/api/network/audit", json={"policy": deny_all})).json()
    assert ledger["evaluated"] == 1
    assert [d["peer_workload"] for d in ledger["would_deny"]] == ["kube-system/Deployment/coredns"]


async def test_bad_requests_say_what_is_wrong(api: httpx.AsyncClient) -> None:
    cases = [
        ({"policy": "kind: [unclosed"}, "not valid YAML"),
        ({"policy": "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: y}"}, "Pod"),
        ({"policy": ""}, "no NetworkPolicy"),
        ({"policy": "- a\n- b"}, "must be an object"),
        ({"policy": yaml.safe_dump(world.LEDGER_DEFAULT_DENY), "since": "yesterday"}, "since"),
    ]
    for body, detail in cases:
        resp = await api.post("/api/network/audit", json=body)
        assert resp.status_code == 400, body
        assert detail in resp.json()["detail"], (body, resp.json())
    for params, detail in [
        ({}, "namespace"),
        ({"namespace": "shop", "format": "calico"}, "format"),
        ({"namespace": "shop", "kind": "Deployment"}, "kind and name"),
        ({"namespace": "shop", "kind": "Rollout", "name": "x"}, "kind"),
        ({"namespace": "shop", "cidr": "/24"}, "cidr"),
    ]:
        resp = await api.get("/api/network/policy", params=params)
        assert resp.status_code == 400, params
        assert detail in resp.json()["detail"], (params, resp.json())


async def test_seccomp_profile_and_its_404(api: httpx.AsyncClient) -> None:
    resp = await api.get(f"/api/seccomp/shop/{world.API}")
    assert resp.status_code == 200, resp.text
    profile = resp.json()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["architectures"][0] == "SCMP_ARCH_X86_64"
    assert profile["syscalls"] == [
        {
            "names": ["accept4", "close", "epoll_wait", "openat", "read", "write"],
            "action": "SCMP_ACT_ALLOW",
        }
    ]
    missing = await api.get(f"/api/seccomp/shop/{world.POSTGRES}")
    assert missing.status_code == 404
    assert "No syscalls observed" in missing.json()["detail"]
