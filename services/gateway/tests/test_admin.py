"""Admin settings through the gateway: stored in the KV bucket, live everywhere, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath
from nats.aio.client import Client as NATS

from kubeward.core.app_settings import AppSettings
from kubeward.devstack.testing import eventually, serve_asgi
from kubeward.schemas import bus
from kubeward.schemas.settings import KEYS, LLM_CONFIG

SETTINGS_SECRET = "a-settings-secret-for-tests"  # as in conftest.py
API_KEY = "sk-live-0123456789abcdefWXYZ"


class Receiver:
    """A local webhook receiver that records every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []

        @post("/{name:str}", status_code=200)
        async def hook(name: FromPath[str], request: Request[Any, Any, Any]) -> dict[str, bool]:
            self.received.append((name, await request.json()))
            return {"ok": True}

        self.app = Litestar(route_handlers=[hook])


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """The receiver and its base URL."""
    rec = Receiver()
    async with serve_asgi(rec.app) as url:
        yield rec, url


async def test_llm_config_is_masked_encrypted_and_live(admin: httpx.AsyncClient, nc: NATS) -> None:
    assert (await admin.get("/api/admin/llm/status")).json() == {
        "configured": False,
        "config": None,
    }
    other_service = await AppSettings.open(nc.jetstream(), SETTINGS_SECRET, keys=KEYS)
    try:
        stored = await admin.post(
            "/api/admin/llm/config",
            json={"provider": "openai", "model": "gpt-4o-mini", "api_key": API_KEY},
        )
        assert stored.status_code == 200
        assert API_KEY not in stored.text and stored.json()["config"]["api_key"].endswith("WXYZ")
        status = await admin.get("/api/admin/llm/status")
        assert status.json()["configured"] is True and API_KEY not in status.text
        # Another service sees the change live, with the key in clear for its client.
        config = await eventually(
            lambda: _llm(other_service), lambda c: c is not None, what="live LLM config"
        )
        assert config == ("openai", API_KEY)
        # At rest the key is encrypted.
        kv = await nc.jetstream().key_value(bus.SETTINGS_BUCKET)
        raw = (await kv.get("llm.config")).value or b""
        assert API_KEY.encode() not in raw
        bad = await admin.post("/api/admin/llm/config", json={"provider": "", "model": "m"})
        assert bad.status_code == 400 and bad.json()["detail"]
        assert (await admin.delete("/api/admin/llm/config")).json()["configured"] is False
        await eventually(lambda: _llm(other_service), lambda c: c is None, what="LLM removed")
    finally:
        await other_service.close()


async def _llm(store: AppSettings) -> tuple[str, str] | None:
    config = store.get(LLM_CONFIG)
    return None if config is None else (config.provider, config.api_key)


async def test_exclusions_emit_feed_events(admin: httpx.AsyncClient, nc: NATS) -> None:
    feed = await nc.subscribe(bus.feed_subject("namespace_exclusion"))
    added = await admin.post("/api/admin/excluded-namespaces", json={"namespace": "kube-system"})
    assert added.status_code == 201
    # Kure's answer (the reference documents no GET body): the rows the dashboard maps over.
    assert (await admin.get("/api/admin/excluded-namespaces")).json() == [
        {"namespace": "kube-system", "created_at": None}
    ]
    event = msgspec.json.decode((await feed.next_msg(timeout=10)).data)
    assert event == {
        "type": "namespace_exclusion",
        "data": {"namespace": "kube-system", "action": "excluded"},
    }
    assert (await admin.delete("/api/admin/excluded-namespaces/kube-system")).status_code == 200
    assert msgspec.json.decode((await feed.next_msg(timeout=10)).data)["data"]["action"] == (
        "included"
    )
    assert (await admin.delete("/api/admin/excluded-namespaces/kube-system")).status_code == 404
    assert (
        await admin.post("/api/admin/excluded-pods", json={"pod_name": "test-*"})
    ).status_code == 201
    assert (await admin.get("/api/admin/excluded-pods")).json() == [
        {"pod_name": "test-*", "created_at": None}
    ]
    assert (await admin.delete("/api/admin/excluded-pods/test-*")).status_code == 200


async def test_notifications_are_masked_and_the_test_really_sends(
    admin: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    hook = f"{url}/slack-secret-path"
    made = await admin.post(
        "/api/admin/notifications",
        json={"provider": "slack", "enabled": True, "config": {"webhook_url": hook}},
    )
    assert made.status_code == 201 and "slack-secret-path" not in made.text
    listed = await admin.get("/api/admin/notifications")
    assert [n["provider"] for n in listed.json()] == ["slack"]
    assert "slack-secret-path" not in listed.text
    sent = await admin.post("/api/admin/notifications/slack/test")
    assert sent.json()["ok"] is True
    ((name, payload),) = rec.received
    assert name == "slack-secret-path" and "text" in payload
    unknown = await admin.post(
        "/api/admin/notifications",
        json={"provider": "pager", "config": {"webhook_url": hook}},
    )
    assert unknown.status_code == 400
    updated = await admin.put(
        "/api/admin/notifications/slack", json={"enabled": False, "config": {"webhook_url": hook}}
    )
    assert updated.json()["enabled"] is False
    assert (await admin.delete("/api/admin/notifications/slack")).status_code == 200
    assert (await admin.post("/api/admin/notifications/slack/test")).status_code == 404


async def test_settings_and_mirror_ttl(admin: httpx.AsyncClient) -> None:
    key = "/api/admin/settings/history_retention_minutes"
    assert (await admin.get(key)).json() == {"key": "history_retention_minutes", "value": "0"}
    assert (await admin.post(key, json={"value": "10080"})).json()["value"] == "10080"
    assert (await admin.get(key)).json()["value"] == "10080"
    bad = await admin.post(key, json={"value": "-1"})
    assert bad.status_code == 400 and "history_retention_minutes" in bad.json()["detail"]
    assert (await admin.get("/api/admin/settings/nope")).status_code == 404
    ttl = "/api/admin/settings/mirror-ttl"
    assert (await admin.get(ttl)).json() == {"seconds": 180}
    assert (await admin.put(ttl, json={"seconds": 300})).json() == {"seconds": 300}
    for out_of_range in (29, 3601):
        resp = await admin.put(ttl, json={"seconds": out_of_range})
        assert resp.status_code == 400 and resp.json()["detail"]
    assert (await admin.get(ttl)).json() == {"seconds": 300}


async def test_every_admin_change_is_audited_without_secrets(admin: httpx.AsyncClient) -> None:
    await admin.post(
        "/api/admin/users", json={"username": "ann", "password": "ann-password", "role": "read"}
    )
    await admin.post(
        "/api/admin/llm/config",
        json={"provider": "anthropic", "model": "claude", "api_key": API_KEY},
    )
    await admin.put("/api/admin/settings/mirror-ttl", json={"seconds": 600})
    log = await admin.get("/api/admin/audit")
    assert log.status_code == 200 and API_KEY not in log.text
    entries = [(e["actor"], e["action"], e["key"]) for e in log.json()]
    assert ("root", "create", "users.ann") in entries
    assert any(actor == "root" and key == "llm.config" for actor, _, key in entries)
    assert any(actor == "root" and key == "mirror.ttl_seconds" for actor, _, key in entries)


async def test_admin_endpoints_refuse_writers_and_the_service_token(
    admin: httpx.AsyncClient,
) -> None:
    await admin.post(
        "/api/admin/users",
        json={"username": "wendy", "password": "wendy-password", "role": "write"},
    )
    base = str(admin.base_url)
    async with (
        httpx.AsyncClient(base_url=base) as writer,
        httpx.AsyncClient(base_url=base, headers={"X-Service-Token": "svc-token"}) as service,
    ):
        await writer.post(
            "/api/auth/login", json={"username": "wendy", "password": "wendy-password"}
        )
        for client in (writer, service):
            for method, path in (
                ("GET", "/api/admin/llm/status"),
                ("PUT", "/api/admin/settings/mirror-ttl"),
                ("GET", "/api/admin/audit"),
            ):
                resp = await client.request(method, path, json={"seconds": 60})
                assert resp.status_code == 403, (method, path)


class FakeOpenAI:
    """A local server speaking OpenAI's chat-completions wire format."""

    def __init__(self) -> None:
        self.auth: list[str] = []

        @post("/v1/chat/completions", status_code=200)
        async def chat(request: Request[Any, Any, Any]) -> dict[str, Any]:
            self.auth.append(request.headers.get("authorization", ""))
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                raise NotAuthorizedException("bad key")
            return {
                "model": "gpt-test",
                "choices": [
                    {"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                ],
            }

        self.app = Litestar(route_handlers=[chat])


async def test_llm_test_really_calls_the_provider(admin: httpx.AsyncClient) -> None:
    fake = FakeOpenAI()
    async with serve_asgi(fake.app) as url:
        body = {"provider": "openai", "model": "gpt-test", "api_key": API_KEY, "base_url": url}
        good = await admin.post("/api/admin/llm/test", json=body)
        assert good.status_code == 200 and good.json()["ok"] is True
        bad = await admin.post("/api/admin/llm/test", json=body | {"api_key": "sk-wrong-000"})
        assert bad.json()["ok"] is False and bad.json()["kind"] == "auth"
        # With the key left out, the stored key of the same provider is used.
        await admin.post("/api/admin/llm/config", json=body)
        stored = await admin.post("/api/admin/llm/test", json=body | {"api_key": ""})
        assert stored.json()["ok"] is True
        assert API_KEY not in stored.text and API_KEY not in bad.text
    assert fake.auth.count(f"Bearer {API_KEY}") == 2
