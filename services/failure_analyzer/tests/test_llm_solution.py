"""The LLM solution against a real local HTTP server speaking each provider's wire format."""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from kubeward.devstack.fake_llm import DEFAULT_ANSWER, Answer, FakeLLM, Seen, serve_fake_llm
from kubeward.failure_analyzer.findings import Diagnosis, Evidence, Finding
from kubeward.failure_analyzer.llm_solution import MAX_PROMPT, SYSTEM_PROMPT, llm_solution
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodEvent,
    PodFailureReport,
)
from kubeward.schemas.settings import LLMConfig

KEY = "sk-test-PROVIDERKEY0123456789abcdef"
POD = "orders-api-7f9c6d5b8-x2x4k"
ROOT_CAUSE = "The container exits with code 1 because it cannot reach PostgreSQL at db:5432."
OFFLINE = f"## Root Cause\n{ROOT_CAUSE}\n\n## Fix\n1. Check the database.\n"

# Where each provider is reached on the fake server, the path it must call, its auth header.
PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "openai": ("gpt-4o-mini", "", "/v1/chat/completions", "authorization"),
    "anthropic": ("claude-sonnet-4-20250514", "", "/v1/messages", "x-api-key"),
    "gemini": (
        "gemini-2.0-flash",
        "",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        "x-goog-api-key",
    ),
    "groq": ("llama-3.3-70b-versatile", "/openai", "/openai/v1/chat/completions", "authorization"),
    "ollama": ("llama3.1:8b", "", "/api/chat", "authorization"),
    "openai-compatible": (
        "qwen2.5-7b",
        "/custom/v1",
        "/custom/v1/chat/completions",
        "authorization",
    ),
    # GitHub Models under Kure Monitor's names (OpenAI format, no version segment).
    "copilot": ("openai/gpt-5-mini", "/inference", "/inference/chat/completions", "authorization"),
    "github": ("openai/gpt-4.1", "/inference", "/inference/chat/completions", "authorization"),
    "github_models": ("openai/gpt-5-mini", "/gh", "/gh/chat/completions", "authorization"),
}

DIAGNOSIS = Diagnosis(
    findings=(
        Finding(
            analyzer="crash.dependency-unreachable",
            title="Cannot reach a dependency: db:5432",
            root_cause=ROOT_CAUSE,
            fix=("Check that the `db` Service has endpoints.",),
            verify=("kubectl -n shop get endpoints db",),
            evidence=(Evidence(source="logs", detail="connection to db:5432 refused"),),
            confidence=0.8,
        ),
    )
)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    """The fake provider server, answering the default Markdown answer."""
    async with serve_fake_llm() as app:
        yield app


def config(server: FakeLLM, provider: str) -> LLMConfig:
    model, path, _, _ = PROVIDERS[provider]
    return LLMConfig(provider=provider, model=model, api_key=KEY, base_url=server.url + path)


def plain_report() -> PodFailureReport:
    return PodFailureReport(
        pod_name=POD,
        namespace="shop",
        phase="Running",
        node_name="node-a",
        failure_reason="CrashLoopBackOff",
        failure_message="back-off 5m0s restarting failed container=api",
        container_statuses=[
            ContainerStatus(
                name="api",
                state="waiting",
                reason="CrashLoopBackOff",
                exit_code=1,
                restart_count=7,
                image="ghcr.io/acme/orders-api:2.3.1",
            )
        ],
        events=[PodEvent(type="Warning", reason="BackOff", message="Back-off restarting", count=9)],
        logs="starting\nconnection to db:5432 refused\n",
    )


def prompts(seen: Seen) -> tuple[str, str]:
    """The system and user prompt a request carried, from any provider's format."""
    body: dict[str, Any] = seen.json()
    if "systemInstruction" in body:
        return body["systemInstruction"]["parts"][0]["text"], body["contents"][0]["parts"][0][
            "text"
        ]
    if "system" in body:
        return body["system"], body["messages"][0]["content"]
    return body["messages"][0]["content"], body["messages"][1]["content"]


# --- Success ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_success_returns_the_models_answer(server: FakeLLM, provider: str) -> None:
    outcome = await llm_solution(
        config(server, provider), plain_report(), DIAGNOSIS, OFFLINE, timeout=5
    )
    assert (outcome.solution, outcome.source, outcome.error) == (DEFAULT_ANSWER, "llm", None)
    [request] = server.requests
    _, _, path, auth = PROVIDERS[provider]
    assert request.path == path
    assert KEY in request.headers[auth]
    system, prompt = prompts(request)
    assert system == SYSTEM_PROMPT
    assert "## Root Cause" in system and "## Fix" in system and "## Verify" in system
    assert ROOT_CAUSE in prompt
    assert "crash.dependency-unreachable" in prompt
    assert "kubectl -n shop get endpoints db" in prompt
    assert f"- Name: {POD}" in prompt
    assert "CrashLoopBackOff" in prompt
    assert "exit code 1" in prompt
    assert "connection to db:5432 refused" in prompt


async def test_the_answer_is_stripped(server: FakeLLM) -> None:
    server.script = [Answer(text="\n\n  ## Root Cause\nDB down.\n\n## Fix\n1. x\n  \n")]
    outcome = await llm_solution(
        config(server, "openai"), plain_report(), DIAGNOSIS, OFFLINE, timeout=5
    )
    assert outcome.solution == "## Root Cause\nDB down.\n\n## Fix\n1. x"


async def test_the_prompt_is_bounded(server: FakeLLM) -> None:
    report = plain_report()
    report.logs = "".join(f"{i:06d} " + "x" * 200 + "\n" for i in range(5000))  # ~1 MB
    report.events = [PodEvent(reason="BackOff", message="m" * 5000)] * 100
    report.manifest = yaml.safe_dump(
        {"spec": {"containers": [{"name": f"c{i}"} for i in range(2000)]}}
    )
    outcome = await llm_solution(config(server, "anthropic"), report, DIAGNOSIS, OFFLINE, timeout=5)
    assert outcome.source == "llm"
    _, prompt = prompts(server.requests[0])
    assert len(prompt.encode()) <= MAX_PROMPT
    assert "004999 " in prompt  # the log's tail, not its head
    assert "000000 " not in prompt
    assert ROOT_CAUSE in prompt


# --- Fallbacks --------------------------------------------------------------------------


def assert_fallback(outcome: Any, label: str, why: str) -> None:
    assert outcome.source == "offline-fallback"
    first, rest = outcome.solution.split("\n", 1)
    assert first == f"> Offline diagnosis: the LLM ({label}) {why}."
    assert rest.strip() == OFFLINE.strip()
    assert outcome.error
    assert KEY not in outcome.error and KEY not in outcome.solution


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_401_falls_back_with_the_reason(server: FakeLLM, provider: str) -> None:
    body = b'{"error": {"message": "Incorrect API key provided: ' + KEY.encode() + b'"}}'
    server.script = [Answer(401, body)]
    cfg = config(server, provider)
    outcome = await llm_solution(cfg, plain_report(), DIAGNOSIS, OFFLINE, timeout=5)
    assert_fallback(outcome, f"{provider}, {cfg.model}", "rejected the API key (HTTP 401)")
    assert outcome.error is not None and "HTTP 401" in outcome.error
    assert len(server.requests) == 1


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_500_twice_falls_back(server: FakeLLM, provider: str) -> None:
    server.script = [Answer(500, b'{"error": "boom"}'), Answer(500, b'{"error": "still boom"}')]
    cfg = config(server, provider)
    outcome = await llm_solution(cfg, plain_report(), DIAGNOSIS, OFFLINE, timeout=5)
    assert_fallback(outcome, f"{provider}, {cfg.model}", "is unavailable (HTTP 500)")
    assert len(server.requests) == 2  # retried once


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_a_malformed_200_falls_back(server: FakeLLM, provider: str) -> None:
    server.script = [Answer(200, b'{"choices": [{"message": ')]
    cfg = config(server, provider)
    outcome = await llm_solution(cfg, plain_report(), DIAGNOSIS, OFFLINE, timeout=5)
    assert_fallback(
        outcome, f"{provider}, {cfg.model}", "sent a reply that could not be read (HTTP 200)"
    )


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_a_hanging_server_falls_back_within_the_timeout(
    server: FakeLLM, provider: str
) -> None:
    server.script = [Answer(hang=True)]
    cfg = config(server, provider)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await llm_solution(cfg, plain_report(), DIAGNOSIS, OFFLINE, timeout=0.5)
    elapsed = loop.time() - started
    assert_fallback(outcome, f"{provider}, {cfg.model}", "did not answer within 0.5s")
    assert 0.45 <= elapsed < 1.5
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("   \n", "gave an empty answer"),
        ("The pod is broken, restart it.", "gave an answer without the expected sections"),
    ],
)
async def test_a_bad_answer_falls_back(server: FakeLLM, text: str, why: str) -> None:
    server.script = [Answer(text=text)]
    outcome = await llm_solution(
        config(server, "gemini"), plain_report(), DIAGNOSIS, OFFLINE, timeout=5
    )
    assert_fallback(outcome, "gemini, gemini-2.0-flash", why)


async def test_a_bad_config_falls_back_without_a_request(server: FakeLLM) -> None:
    cfg = LLMConfig(provider="openai-compatible", model="m", api_key=KEY)  # no base_url
    outcome = await llm_solution(cfg, plain_report(), DIAGNOSIS, OFFLINE, timeout=5)
    assert_fallback(outcome, "openai-compatible, m", "is not configured correctly")
    assert "base_url is required" in (outcome.error or "")
    assert server.requests == []


# --- Redaction --------------------------------------------------------------------------

DB_PASSWORD = "Pg-Sup3rS3cret-91"
API_KEY = "ak-7f3e9d2c1b0a99887766"
LOG_PASSWORD = "hunter2-Xq9z"
BEARER = "opaqueTok3n.abc-123456789"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
PEM_LINE = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
URL_PASSWORD = "Adm1nPassw0rd"
EVENT_TOKEN = "ghp_1234567890abcdefghijABCDEFGHIJ123456"
PREVIOUS_PASSWORD = "prev-instance-pw-4242"
SECRETS = [
    DB_PASSWORD,
    f"postgres://app:{DB_PASSWORD}@db.shop.svc:5432/orders",
    API_KEY,
    LOG_PASSWORD,
    BEARER,
    AWS_ID,
    PEM_LINE,
    URL_PASSWORD,
    EVENT_TOKEN,
    PREVIOUS_PASSWORD,
]


def secret_report() -> PodFailureReport:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": "shop"},
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": "ghcr.io/acme/orders-api:2.3.1",
                    "env": [
                        {
                            "name": "DATABASE_URL",
                            "value": f"postgres://app:{DB_PASSWORD}@db.shop.svc:5432/orders",
                        },
                        {"name": "API_KEY", "value": API_KEY},
                    ],
                }
            ]
        },
    }
    logs = "\n".join(
        [
            "2026-01-01T00:00:00Z INFO starting orders-api",
            f"2026-01-01T00:00:01Z DEBUG config: api_key loaded ({API_KEY})",
            f"2026-01-01T00:00:01Z DEBUG db login password={LOG_PASSWORD}",
            f"2026-01-01T00:00:01Z DEBUG upstream headers: Authorization: Bearer {BEARER}",
            f"2026-01-01T00:00:01Z DEBUG s3 client key id {AWS_ID}",
            "-----BEGIN RSA PRIVATE KEY-----",
            PEM_LINE,
            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
            "-----END RSA PRIVATE KEY-----",
            f"2026-01-01T00:00:02Z ERROR dial postgresql://admin:{URL_PASSWORD}@10.0.0.5:5432/orders",
            f"2026-01-01T00:00:02Z ERROR DATABASE_URL=postgres://app:{DB_PASSWORD}@db.shop.svc:5432/orders",
            "2026-01-01T00:00:02Z FATAL connection to db:5432 refused; exiting with code 1",
        ]
    )
    previous = f"previous run\npassword: {PREVIOUS_PASSWORD}\nuses {API_KEY}\n"
    return PodFailureReport(
        pod_name=POD,
        namespace="shop",
        node_name="node-a",
        phase="Running",
        failure_reason="CrashLoopBackOff",
        failure_message=f"container api failed; token={EVENT_TOKEN}",
        container_statuses=[
            ContainerStatus(
                name="api",
                state="waiting",
                reason="CrashLoopBackOff",
                exit_code=1,
                restart_count=7,
                image="ghcr.io/acme/orders-api:2.3.1",
                message=f"last error: password {DB_PASSWORD} rejected",
            )
        ],
        events=[
            PodEvent(type="Normal", reason="Pulled", message="Container image pulled"),
            PodEvent(
                type="Warning",
                reason="Failed",
                message=f"Error: probe with header X-Api-Key {API_KEY} and {EVENT_TOKEN} failed",
            ),
            PodEvent(type="Warning", reason="BackOff", message="Back-off restarting", count=9),
        ],
        logs=logs,
        manifest=yaml.safe_dump(manifest),
        failure_logs=FailureLogs(
            containers={
                "api": FailureLogEntry(
                    previous=FailureLogBlock(
                        data=base64.b64encode(gzip.compress(previous.encode())).decode()
                    )
                )
            }
        ),
    )


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_no_secret_reaches_the_provider(server: FakeLLM, provider: str) -> None:
    outcome = await llm_solution(
        config(server, provider), secret_report(), DIAGNOSIS, OFFLINE, timeout=5
    )
    assert outcome.source == "llm"
    [request] = server.requests
    _, _, _, auth = PROVIDERS[provider]
    raw = request.body.decode()
    system, prompt = prompts(request)
    headers = {k: v for k, v in request.headers.items() if k != auth}
    for secret in SECRETS:
        assert secret not in raw, secret
        assert secret not in prompt, secret
        assert secret not in system, secret
        assert all(secret not in v for v in headers.values()), secret
        assert secret not in request.path + request.query
    # what the model needs is still there
    assert POD in prompt
    assert "CrashLoopBackOff" in prompt
    assert "exit code 1" in prompt
    assert "connection to db:5432 refused" in prompt
    assert "DATABASE_URL" in prompt  # the env var's name stays, its value goes
    assert "previous instance of container api" in prompt
    assert "[REDACTED]" in prompt
    assert ROOT_CAUSE in prompt
