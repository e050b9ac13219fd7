"""The failure-analyzer's LLM solution with GitHub Models under Kure Monitor's provider
names, against a real local server speaking the OpenAI format; each call is counted in
Kure's ``kure_llm_*`` metrics of the failure-analyzer's registry.

Pins ``Nan0C0de/kure-monitor`` ``backend/llm_providers/copilot_provider.py`` (commit
ca23d29085c58d2746f0d401e1c435639e2b7cf4: OpenAI format at ``{base}/chat/completions``,
token as bearer) and ``backend/services/solution_engine.py`` (commit
def6f3ac9e91af861bad253506300f46d7bba9ae: one ``kure_llm_requests_total{provider,status}``
and one ``kure_llm_request_duration_seconds{provider}`` observation per call, ``success``
or ``error``, provider ``copilot``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubeward.devstack.fake_llm import DEFAULT_ANSWER, Answer, FakeLLM, serve_fake_llm
from kubeward.failure_analyzer import metrics
from kubeward.failure_analyzer.findings import Diagnosis
from kubeward.failure_analyzer.llm_solution import SYSTEM_PROMPT, llm_solution
from kubeward.schemas.pod_failures import PodFailureReport
from kubeward.schemas.settings import LLMConfig

TOKEN = "github_pat_11AAAA0123456789_abcdefSECRET"
OFFLINE = "## Root Cause\nOut of memory.\n"
REPORT = PodFailureReport(pod_name="ledger-0", namespace="payments", failure_reason="OOMKilled")


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    """The fake provider server."""
    async with serve_fake_llm() as app:
        yield app


def _count(status: str) -> float:
    labels = {"provider": "copilot", "status": status}
    return metrics.REGISTRY.get_sample_value("kure_llm_requests_total", labels) or 0.0


async def test_github_models_answers_and_is_counted(server: FakeLLM) -> None:
    config = LLMConfig(
        provider="github_models",
        model="openai/gpt-5-mini",
        api_key=TOKEN,
        base_url=server.url + "/inference",
    )
    before = (_count("success"), _count("error"))
    outcome = await llm_solution(config, REPORT, Diagnosis(findings=()), OFFLINE, timeout=5)
    assert (outcome.source, outcome.solution) == ("llm", DEFAULT_ANSWER)
    [seen] = server.requests
    assert (seen.method, seen.path) == ("POST", "/inference/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    body = seen.json()
    assert body["model"] == "openai/gpt-5-mini" and body["max_tokens"] > 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == SYSTEM_PROMPT
    assert "ledger-0" in body["messages"][1]["content"]

    server.script = [Answer(status=403, body=b'{"error": {"message": "no access"}}')]
    failed = await llm_solution(config, REPORT, Diagnosis(findings=()), OFFLINE, timeout=5)
    assert failed.source == "offline-fallback" and TOKEN not in failed.solution
    assert (_count("success"), _count("error")) == (before[0] + 1, before[1] + 1)
