"""The dashboard's AI settings with GitHub Models under Kure Monitor's provider names.

Pins ``Nan0C0de/kure-monitor`` ``frontend/src/components/LLMSettings.js`` (commit
02c0a2387441f3634b43f4516679be6b92924dc2: the body ``{provider, api_key, model[, base_url]}``
of Save and Test, ``result.success`` / ``result.message`` read back from Test,
``status.provider`` / ``status.model`` / ``status.source`` shown), ``backend/api/routes_llm.py``
(commit 054a6cb782af776bede0cf485896031cc0a9def2) and
``backend/llm_providers/copilot_provider.py`` (commit ca23d29085c58d2746f0d401e1c435639e2b7cf4:
OpenAI format at ``{base_url}/chat/completions``, the token as bearer).
"""

from __future__ import annotations

import httpx

from kubeward.devstack.fake_llm import Answer, serve_fake_llm

TOKEN = "github_pat_11BBBB0123456789_abcdefSECRET"


async def test_copilot_is_saved_shown_and_tested_like_kure(admin: httpx.AsyncClient) -> None:
    save = {"provider": "copilot", "api_key": TOKEN, "model": "openai/gpt-5-mini"}
    saved = await admin.post("/api/admin/llm/config", json=save)
    assert saved.status_code == 200, saved.text
    status = (await admin.get("/api/admin/llm/status")).json()
    assert status["configured"] is True
    assert (status["provider"], status["model"], status["source"]) == (
        "copilot",
        "openai/gpt-5-mini",
        "database",
    )
    assert TOKEN not in str(status)

    async with serve_fake_llm() as fake:
        for name in ("copilot", "github", "github_models"):
            body = save | {"provider": name, "base_url": fake.url + "/inference"}
            answer = await admin.post("/api/admin/llm/test", json=body)
            assert answer.status_code == 200
            assert answer.json()["success"] is True, answer.text
            assert answer.json()["message"] == "LLM connection successful"
        fake.script = [Answer(status=401, body=b'{"message": "Bad credentials"}')]
        refused = (await admin.post("/api/admin/llm/test", json=body)).json()
    assert refused["success"] is False and "401" in refused["message"]
    assert TOKEN not in refused["message"]
    assert len(fake.requests) == 4
    for seen in fake.requests:
        assert (seen.method, seen.path) == ("POST", "/inference/chat/completions")
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert seen.json()["model"] == "openai/gpt-5-mini"
        assert [m["role"] for m in seen.json()["messages"]] == ["system", "user"]
