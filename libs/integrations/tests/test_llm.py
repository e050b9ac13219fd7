"""LLM provider clients against a real local HTTP server speaking each provider's format.

The server is :mod:`kubeward.devstack.fake_llm` served by uvicorn: it records every request
as it arrived and answers from a script, or with the provider's usual success reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kubeward.devstack.fake_llm import Answer, FakeLLM, Seen, serve_fake_llm
from kubeward.devstack.procs import free_port
from kubeward.integrations import llm
from kubeward.integrations.llm import LLMError
from kubeward.schemas.settings import LLMConfig

KEY = "sk-test-SUPERSECRETKEY0123456789"
SYSTEM = "You are a Kubernetes troubleshooting assistant."
PROMPT = "Pod web-1 is in CrashLoopBackOff with exit code 1. Why?"
ANSWER = "## Root Cause\nThe DATABASE_URL variable is missing."


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    """A running :class:`FakeLLM` answering ``ANSWER``."""
    async with serve_fake_llm(ANSWER) as app:
        yield app


def config(server: FakeLLM, provider: str, model: str, *, path: str = "") -> LLMConfig:
    """``provider`` pointed at the local server."""
    return LLMConfig(provider=provider, model=model, api_key=KEY, base_url=server.url + path)


async def _call(cfg: LLMConfig, server: FakeLLM, **kw: Any) -> tuple[llm.Completion, Seen]:
    completion = await llm.complete(cfg, SYSTEM, PROMPT, **kw)
    [request] = server.requests
    assert request.method == "POST"
    assert request.query == ""  # the key never travels in the URL
    assert request.headers["content-type"] == "application/json"
    assert KEY not in request.path
    return completion, request


# --- Wire formats ---------------------------------------------------------------------


async def test_openai(server: FakeLLM) -> None:
    completion, request = await _call(config(server, "openai", "gpt-4o-mini"), server)
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "max_completion_tokens": llm.DEFAULT_MAX_TOKENS,
    }
    assert completion == llm.Completion(
        text=ANSWER,
        model="gpt-4o-mini-2024-07-18",
        provider="openai",
        usage=llm.Usage(input_tokens=30, output_tokens=12, total_tokens=42),
        finish_reason="stop",
    )


async def test_anthropic(server: FakeLLM) -> None:
    cfg = config(server, "anthropic", "claude-sonnet-4-20250514")
    completion, request = await _call(cfg, server, max_tokens=500)
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.json() == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 500,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    assert (completion.text, completion.provider, completion.finish_reason) == (
        ANSWER,
        "anthropic",
        "end_turn",
    )
    assert completion.usage == llm.Usage(input_tokens=30, output_tokens=12, total_tokens=42)


async def test_gemini(server: FakeLLM) -> None:
    completion, request = await _call(config(server, "gemini", "gemini-2.0-flash"), server)
    assert request.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert "authorization" not in request.headers
    assert request.json() == {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": llm.DEFAULT_MAX_TOKENS},
    }
    assert (completion.text, completion.model, completion.finish_reason) == (
        ANSWER,
        "gemini-2.0-flash",
        "STOP",
    )
    assert completion.usage == llm.Usage(input_tokens=30, output_tokens=12, total_tokens=42)


async def test_groq_is_openai_format_under_openai_path(server: FakeLLM) -> None:
    cfg = config(server, "groq", "llama-3.3-70b-versatile", path="/openai")
    completion, request = await _call(cfg, server)
    assert request.path == "/openai/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json()["model"] == "llama-3.3-70b-versatile"
    assert request.json()["messages"][0] == {"role": "system", "content": SYSTEM}
    assert (completion.text, completion.provider) == (ANSWER, "groq")


async def test_ollama(server: FakeLLM) -> None:
    cfg = LLMConfig(provider="ollama", model="llama3.1:8b", base_url=server.url)
    completion, request = await _call(cfg, server, max_tokens=300)
    assert request.path == "/api/chat"
    assert "authorization" not in request.headers  # no key configured, none sent
    assert request.json() == {
        "model": "llama3.1:8b",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "stream": False,
        "options": {"num_predict": 300},
    }
    assert completion == llm.Completion(
        text=ANSWER,
        model="llama3.1:8b",
        provider="ollama",
        usage=llm.Usage(input_tokens=30, output_tokens=12, total_tokens=42),
        finish_reason="stop",
    )


async def test_openai_compatible_with_version_in_base_url(server: FakeLLM) -> None:
    cfg = config(server, "openai-compatible", "qwen2.5-7b-instruct", path="/v1/")
    completion, request = await _call(cfg, server, max_tokens=100)
    assert request.path == "/v1/chat/completions"  # not /v1/v1/...
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {
        "model": "qwen2.5-7b-instruct",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": 100,
    }
    assert (completion.text, completion.provider) == (ANSWER, "openai-compatible")


async def test_a_shared_client_is_used(server: FakeLLM) -> None:
    async with httpx.AsyncClient(headers={"User-Agent": "shared/1"}) as client:
        completion = await llm.complete(
            config(server, "OpenAI", "gpt-4o-mini"), SYSTEM, PROMPT, client=client
        )
    assert completion.provider == "openai"  # provider names are case-insensitive
    assert server.requests[0].headers["user-agent"] == "shared/1"


# --- Error paths ----------------------------------------------------------------------


async def _fails(cfg: LLMConfig, **kw: Any) -> LLMError:
    with pytest.raises(LLMError) as caught:
        await llm.complete(cfg, SYSTEM, PROMPT, **kw)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    return caught.value


async def test_401_is_auth_and_not_retried(server: FakeLLM) -> None:
    body = (
        b'{"error": {"message": "Incorrect API key provided: ' + KEY.encode() + b'", '
        b'"type": "invalid_request_error", "code": "invalid_api_key"}}'
    )
    server.script = [Answer(401, body)]
    error = await _fails(config(server, "openai", "gpt-4o-mini"))
    assert (error.kind, error.status) == ("auth", 401)
    assert "Incorrect API key provided" in error.message  # the server's words, key masked
    assert "sk-***6789" in error.message
    assert len(server.requests) == 1


async def test_gemini_bad_key_400_is_auth(server: FakeLLM) -> None:
    server.script = [
        Answer(
            400,
            b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API '
            b'key.", "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}',
        )
    ]
    error = await _fails(config(server, "gemini", "gemini-2.0-flash"))
    assert (error.kind, error.status) == ("auth", 400)
    assert "INVALID_ARGUMENT: API key not valid" in error.message


async def test_429_then_200_is_retried_after_retry_after(server: FakeLLM) -> None:
    server.script = [
        Answer(
            429,
            b'{"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}',
            headers={"retry-after": "0.3"},
        )
    ]
    completion = await llm.complete(
        config(server, "anthropic", "claude-sonnet-4-20250514"), SYSTEM, PROMPT, timeout=5
    )
    assert completion.text == ANSWER
    first, second = server.requests
    assert second.at - first.at >= 0.28  # waited as told, not the default backoff
    assert first.body == second.body


async def test_500_twice_is_unavailable(server: FakeLLM) -> None:
    server.script = [Answer(500, b'{"error": "boom"}'), Answer(503, b'{"error": "still down"}')]
    error = await _fails(config(server, "ollama", "llama3.1:8b"), timeout=5)
    assert (error.kind, error.status) == ("unavailable", 503)
    assert error.message == "ollama: HTTP 503: still down"
    assert len(server.requests) == 2


async def test_a_hanging_server_times_out_within_the_budget(server: FakeLLM) -> None:
    server.script = [Answer(hang=True)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = await _fails(config(server, "openai", "gpt-4o-mini"), timeout=0.5)
    elapsed = loop.time() - started
    assert (error.kind, error.status) == ("timeout", None)
    assert 0.45 <= elapsed < 1.0
    assert len(server.requests) == 1  # the budget is spent: no retry


async def test_retry_after_beyond_the_budget_fails_at_once(server: FakeLLM) -> None:
    server.script = [Answer(429, b'{"error": {"message": "quota"}}', headers={"Retry-After": "60"})]
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = await _fails(config(server, "groq", "llama-3.3-70b-versatile"), timeout=2)
    assert (error.kind, error.status) == ("rate_limited", 429)
    assert loop.time() - started < 1.0
    assert len(server.requests) == 1


async def test_malformed_json_is_bad_response(server: FakeLLM) -> None:
    server.script = [Answer(200, b'{"choices": [{"message": ')]
    error = await _fails(config(server, "openai", "gpt-4o-mini"))
    assert (error.kind, error.status) == ("bad_response", 200)
    assert "not JSON" in error.message
    assert len(server.requests) == 1


async def test_wrong_shape_is_bad_response(server: FakeLLM) -> None:
    server.script = [Answer(200, b'{"candidates": [{"content": {"parts": "oops"}}]}')]
    error = await _fails(config(server, "gemini", "gemini-2.0-flash"))
    assert error.kind == "bad_response"
    assert "candidates[0].content.parts" in error.message


async def test_redirects_are_not_followed_even_by_a_shared_client(server: FakeLLM) -> None:
    server.script = [Answer(307, b"", headers={"location": server.url + "/elsewhere"})]
    async with httpx.AsyncClient(follow_redirects=True) as client:
        error = await _fails(config(server, "anthropic", "claude-sonnet-4-20250514"), client=client)
    assert (error.kind, error.status) == ("bad_config", 307)
    assert "redirected" in error.message
    assert len(server.requests) == 1  # the key went nowhere else


async def test_unknown_model_is_bad_config(server: FakeLLM) -> None:
    server.script = [Answer(404, b'{"error": "model \\"nope\\" not found, try pulling it first"}')]
    error = await _fails(LLMConfig(provider="ollama", model="nope", base_url=server.url))
    assert (error.kind, error.status) == ("bad_config", 404)
    assert "not found" in error.message


async def test_connection_refused_is_unavailable() -> None:
    cfg = LLMConfig(
        provider="openai",
        model="gpt-4o-mini",
        api_key=KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
    )
    error = await _fails(cfg, timeout=5)
    assert (error.kind, error.status) == ("unavailable", None)


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        (LLMConfig(provider="watson", model="x", api_key=KEY), "unknown LLM provider"),
        (LLMConfig(provider="openai", model="gpt-4o"), "api_key is required"),
        (LLMConfig(provider="openai-compatible", model="m"), "base_url is required"),
        (LLMConfig(provider="openai", model=" ", api_key=KEY), "no model"),
        (LLMConfig(provider="ollama", model="m", base_url="ftp://x"), "base_url"),
        (LLMConfig(provider="openai", model="m", api_key="sk-a b\n"), "api_key"),
    ],
)
async def test_bad_config_is_refused_before_sending(cfg: LLMConfig, words: str) -> None:
    error = await _fails(cfg)
    assert (error.kind, error.status) == ("bad_config", None)
    assert words in error.message


async def test_the_key_stays_out_of_errors_and_logs(
    server: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = b'{"error": {"message": "upstream rejected key ' + KEY.encode() + b'"}}'
    server.script = [Answer(500, echo), Answer(502, echo)]
    error = await _fails(config(server, "openai-compatible", "m"), timeout=5)
    assert error.kind == "unavailable"
    assert any("retrying" in r.getMessage() for r in caplog.records), "the retry is logged"
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text


# --- test_connection ------------------------------------------------------------------


async def test_test_connection_ok(server: FakeLLM) -> None:
    result = await llm.test_connection(config(server, "gemini", "gemini-2.0-flash"))
    assert (result.ok, result.provider, result.model, result.error) == (
        True,
        "gemini",
        "gemini-2.0-flash",
        None,
    )
    assert result.latency_ms >= 0
    body = server.requests[0].json()
    assert body["generationConfig"] == {"maxOutputTokens": llm.TEST_MAX_TOKENS}


async def test_test_connection_reports_failures_without_raising(server: FakeLLM) -> None:
    server.script = [Answer(403, b'{"error": {"message": "no access"}}')]
    result = await llm.test_connection(config(server, "openai", "gpt-4o"))
    assert (result.ok, result.kind) == (False, "auth")
    assert result.error == "openai: HTTP 403: no access"

    result = await llm.test_connection(LLMConfig(provider="watson", model="x"))
    assert (result.ok, result.provider, result.kind) == (False, "watson", "bad_config")

    server.script = [Answer(hang=True)]
    result = await llm.test_connection(config(server, "openai", "gpt-4o"), timeout=0.3)
    assert (result.ok, result.kind) == (False, "timeout")
    assert 250 <= result.latency_ms < 1000
