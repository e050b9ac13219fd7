"""Kure's admin settings calls that need only the gateway: pod-exclusion feed events, the
retention settings in minutes and ``ai_enabled`` in ``/api/config``.

Pins Nan0C0de/kure-monitor: ``backend/api/routes_admin.py`` @ 531f0287 (pod exclusions,
``broadcast_pod_exclusion_change``), ``backend/api/routes_pods.py`` (newest stored version;
``GET/PUT /admin/settings/history-retention`` and ``ignored-retention``: ``{"minutes": n}``,
its 400 details), ``backend/api/routes.py`` (``/config``: ``ai_enabled``, ``ai_provider``),
and what ``frontend/src/services/api.js`` (newest stored version) and
``frontend/src/components/admin/RetentionSettings.js`` @ 3f60169a send and read.
"""

from __future__ import annotations

import httpx
import msgspec
from nats.aio.client import Client as NATS

from kubeward.schemas import bus

API_KEY = "sk-live-0123456789abcdefWXYZ"
TOKEN = "svc-token"  # as in conftest.py


async def test_pod_exclusions_emit_feed_events(admin: httpx.AsyncClient, nc: NATS) -> None:
    feed = await nc.subscribe(bus.feed_subject("pod_exclusion"))
    # The dashboard's addExcludedPod / removeExcludedPod, byte for byte.
    added = await admin.post(
        "/api/admin/excluded-pods",
        content=b'{"pod_name":"test-*"}',
        headers={"Content-Type": "application/json"},
    )
    assert added.status_code == 201
    event = msgspec.json.decode((await feed.next_msg(timeout=10)).data)
    assert event == {"type": "pod_exclusion", "data": {"pod_name": "test-*", "action": "excluded"}}
    # Kure's agent (agent/clients/backend_client.py @ fc87ba75) reads the patterns too.
    agent = await admin.get("/api/admin/excluded-pods", headers={"X-Service-Token": TOKEN})
    assert [item.get("pod_name") for item in agent.json() if item.get("pod_name")] == ["test-*"]
    assert (await admin.delete("/api/admin/excluded-pods/test-%2A")).status_code == 200
    event = msgspec.json.decode((await feed.next_msg(timeout=10)).data)
    assert event == {"type": "pod_exclusion", "data": {"pod_name": "test-*", "action": "included"}}
    assert (await admin.delete("/api/admin/excluded-pods/test-%2A")).status_code == 404


async def test_retention_in_minutes_is_the_same_stored_value(admin: httpx.AsyncClient) -> None:
    history = "/api/admin/settings/history-retention"
    assert (await admin.get(history)).json() == {"minutes": 0}
    # RetentionSettings.js: 7 days.
    saved = await admin.put(
        history, content=b'{"minutes":10080}', headers={"Content-Type": "application/json"}
    )
    assert saved.status_code == 200 and saved.json() == {"minutes": 10080}
    assert (await admin.get(history)).json() == {"minutes": 10080}
    reference = await admin.get("/api/admin/settings/history_retention_minutes")
    assert reference.json() == {"key": "history_retention_minutes", "value": "10080"}
    for bad, detail in (
        ({"minutes": -1}, "minutes must be a non-negative integer"),
        ({"minutes": "60"}, "minutes must be a non-negative integer"),
        ({"minutes": True}, "minutes must be a non-negative integer"),
        ({"minutes": 43201}, "minutes must not exceed 43200 (30 days)"),
    ):
        refused = await admin.put(history, json=bad)
        assert (refused.status_code, refused.json()) == (400, {"detail": detail})
    assert (await admin.get(history)).json() == {"minutes": 10080}
    # Kure reads a missing "minutes" as 0: retention off.
    assert (await admin.put(history, json={})).json() == {"minutes": 0}

    ignored = "/api/admin/settings/ignored-retention"
    assert (await admin.put(ignored, json={"minutes": 60})).json() == {"minutes": 60}
    assert (await admin.get(ignored)).json() == {"minutes": 60}
    reference = await admin.get("/api/admin/settings/ignored_retention_minutes")
    assert reference.json()["value"] == "60"
    assert (await admin.post(reference.url.path, json={"value": "30"})).json()["value"] == "30"
    assert (await admin.get(ignored)).json() == {"minutes": 30}


async def test_config_says_whether_ai_is_enabled(admin: httpx.AsyncClient) -> None:
    config = (await admin.get("/api/config")).json()
    assert (config["ai_enabled"], config["ai_provider"]) == (False, None)
    assert config["version"] and "services" in config
    stored = await admin.post(
        "/api/admin/llm/config",
        json={"provider": "openai", "model": "gpt-4o-mini", "api_key": API_KEY},
    )
    assert stored.status_code == 200
    config = (await admin.get("/api/config")).json()
    assert (config["ai_enabled"], config["ai_provider"]) == (True, "openai")
    assert API_KEY not in str(config)
