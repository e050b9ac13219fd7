"""GitHub Models under Kure Monitor's provider names (``copilot``, ``github``,
``github_models``), against a real local HTTP server speaking the OpenAI format.

Pins ``Nan0C0de/kure-monitor`` ``backend/llm_providers/copilot_provider.py`` at commit
ca23d29085c58d2746f0d401e1c435639e2b7cf4: the OpenAI request and reply shapes at
``{base_url}/chat/completions``, base ``https://models.github.ai/inference`` unless the
config gives one, the GitHub token as ``Authorization: Bearer``, namespaced model slugs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from kubeward.core.metrics import LLMMetrics
from kubeward.devstack.fake_llm import Answer, FakeLLM, serve_fake_llm
from kubeward.integrations import llm
from kubeward.integrations.llm import LLMError
from kubeward.integrations.llm_wire import DEFAULT_BASE_URLS, build, normalise_provider
from kubeward.schemas.settings import LLMConfig

TOKEN = "github_pat_11ABCDEFG0123456789_secret"
MODEL = "openai/gpt-5-mini"
ANSWER = "## Root Cause\nThe image tag does not exist."


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    """A running :class:`FakeLLM` answering ``ANSWER``."""
    async with serve_fake_llm(ANSWER) as app:
        yield app


def _config(server: FakeLLM, provider: str, key: str = TOKEN) -> LLMConfig:
    return LLMConfig(
        provider=provider, model=MODEL, api_key=key, base_url=server.url + "/inference"
    )


@pytest.mark.parametrize("name", ["copilot", "github", "github_models", " GitHub_Models "])
async def test_every_kure_name_speaks_openai_to_github_models(server: FakeLLM, name: str) -> None:
    completion = await llm.complete(_config(server, name), "sys", "why?", max_tokens=300)
    [seen] = server.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/inference/chat/completions", "")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-github-api-version"] == "2022-11-28"
    assert seen.json() == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "why?"}],
        "max_tokens": 300,
    }
    assert completion.text == ANSWER
    assert completion.provider == "copilot"


def test_the_default_endpoint_is_github_models() -> None:
    assert normalise_provider("github") == "copilot"
    base = DEFAULT_BASE_URLS["copilot"]
    assert base == "https://models.github.ai/inference"
    request = build("copilot", base, MODEL, TOKEN, "s", "p", 10)
    assert request.url == "https://models.github.ai/inference/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    # A base URL already naming the endpoint is taken as it is.
    again = build("copilot", request.url + "/", MODEL, TOKEN, "s", "p", 10)
    assert again.url == request.url


async def test_a_token_is_required(server: FakeLLM) -> None:
    with pytest.raises(LLMError) as caught:
        await llm.complete(_config(server, "copilot", key=""), "s", "p")
    assert caught.value.kind == "bad_config" and "api_key" in caught.value.message
    assert server.requests == []


async def test_calls_are_counted_as_kure_does(server: FakeLLM) -> None:
    registry = CollectorRegistry()
    metrics = LLMMetrics(registry)
    await llm.complete(_config(server, "github"), "s", "p", metrics=metrics)
    server.script = [Answer(status=401, body=b'{"error": {"message": "Bad credentials"}}')]
    with pytest.raises(LLMError):
        await llm.complete(_config(server, "copilot"), "s", "p", metrics=metrics)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("kure_llm_requests_total", provider="copilot", status="success") == 1
    assert value("kure_llm_requests_total", provider="copilot", status="error") == 1
    assert value("kure_llm_request_duration_seconds_count", provider="copilot") == 2
    assert (value("kure_llm_request_duration_seconds_sum", provider="copilot") or 0) > 0


async def test_the_admin_test_button_works_with_an_alias(server: FakeLLM) -> None:
    result = await llm.test_connection(_config(server, "github_models"))
    assert result.ok and result.provider == "copilot"
    assert server.requests[0].path == "/inference/chat/completions"
