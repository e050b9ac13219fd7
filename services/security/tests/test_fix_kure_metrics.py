"""A finding's AI fix from GitHub Models (Kure's ``copilot``), against a real local server
speaking the OpenAI format, counted in Kure's ``kure_llm_*`` metrics of the security
service's registry.

Pins ``Nan0C0de/kure-monitor`` ``backend/services/solution_engine.py`` (commit
def6f3ac9e91af861bad253506300f46d7bba9ae, ``generate_security_fix``: one
``kure_llm_requests_total{provider,status}`` and one duration observation per model call)
and ``backend/llm_providers/copilot_provider.py`` (commit
ca23d29085c58d2746f0d401e1c435639e2b7cf4).
"""

from __future__ import annotations

from kubeward.devstack.fake_llm import serve_fake_llm
from kubeward.schemas.settings import LLMConfig
from kubeward.security import fix, metrics

TOKEN = "github_pat_11DDDD0123456789_abcdefSECRET"
FIXED = "```yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n```\nDropped privileged."
FINDING = {
    "_id": 7,
    "check_name": "privileged_container",
    "title": "Privileged container",
    "severity": "critical",
    "message": "Container 'web' is running in privileged mode",
    "remediation": "Remove 'privileged: true'",
}
MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}


def _count() -> float:
    labels = {"provider": "copilot", "status": "success"}
    return metrics.REGISTRY.get_sample_value("kure_llm_requests_total", labels) or 0.0


async def test_a_copilot_fix_is_asked_in_openai_format_and_counted() -> None:
    before = _count()
    async with serve_fake_llm(FIXED) as server:
        config = LLMConfig(
            provider="github", model="openai/gpt-5-mini", api_key=TOKEN, base_url=server.url
        )
        answer = await fix.fix(config, FINDING, MANIFEST, timeout=5)
    assert answer.is_fallback is False and "kind: Pod" in answer.fixed_manifest
    [seen] = server.requests
    assert (seen.path, seen.headers["authorization"]) == ("/chat/completions", f"Bearer {TOKEN}")
    assert seen.json()["model"] == "openai/gpt-5-mini"
    assert _count() == before + 1
    count = metrics.REGISTRY.get_sample_value(
        "kure_llm_request_duration_seconds_count", {"provider": "copilot"}
    )
    assert count is not None and count >= 1
