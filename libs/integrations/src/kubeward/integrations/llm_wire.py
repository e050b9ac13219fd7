"""What each LLM provider's HTTP API expects and answers: requests, replies, error bodies.

Pure data and functions (no I/O); :mod:`kubeward.integrations.llm` sends the requests built here.

- OpenAI: ``POST {base}/v1/chat/completions``, ``Authorization: Bearer``, the system prompt
  as the first message, ``max_completion_tokens`` (``max_tokens`` is deprecated there and
  rejected by reasoning models).
- Groq: the OpenAI format at ``https://api.groq.com/openai``.
- OpenAI-compatible (vLLM, LM Studio, LiteLLM, ...): the OpenAI format at a given base URL,
  with the older ``max_tokens`` most such servers understand; the key is optional.
- Anthropic: ``POST {base}/v1/messages``, ``x-api-key`` and ``anthropic-version``, a
  top-level ``system`` and the required ``max_tokens``.
- Gemini: ``POST {base}/v1beta/models/{model}:generateContent`` with the key in the
  ``x-goog-api-key`` header (never in the URL, so it cannot land in an access log),
  ``systemInstruction`` and ``generationConfig.maxOutputTokens``.
- Ollama: ``POST {base}/api/chat`` with ``stream: false`` and ``options.num_predict``.
- GitHub Models (Kure's ``copilot``, also ``github`` / ``github_models``): the OpenAI format
  at ``POST {base}/chat/completions`` (no version segment; base
  ``https://models.github.ai/inference``), a GitHub token as ``Authorization: Bearer``,
  GitHub's ``Accept`` and ``X-GitHub-Api-Version`` headers, ``max_tokens``, and namespaced
  model names such as ``openai/gpt-5-mini``.

A ``base_url`` may include the API's version segment (``http://vllm:8000/v1``) or not
(``http://vllm:8000``); both reach the same endpoint.
"""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import quote

import msgspec

Provider = Literal[
    "openai", "anthropic", "gemini", "groq", "ollama", "openai-compatible", "copilot"
]
PROVIDERS: Final[tuple[Provider, ...]] = (
    "openai",
    "anthropic",
    "gemini",
    "groq",
    "ollama",
    "openai-compatible",
    "copilot",
)
ALIASES: Final[dict[str, Provider]] = {
    "openai_compatible": "openai-compatible",
    "claude": "anthropic",
    "google": "gemini",
    "github": "copilot",
    "github_models": "copilot",
    "github-models": "copilot",
}
"""Other names people use for a provider -> our name."""

DEFAULT_BASE_URLS: Final[dict[Provider, str | None]] = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "groq": "https://api.groq.com/openai",
    "ollama": "http://localhost:11434",
    "openai-compatible": None,
    "copilot": "https://models.github.ai/inference",
}
"""Where each provider is reached when the config has no ``base_url`` (``None``: required)."""

NEEDS_API_KEY: Final[frozenset[Provider]] = frozenset(
    {"openai", "anthropic", "gemini", "groq", "copilot"}
)
ANTHROPIC_VERSION = "2023-06-01"
GITHUB_API_VERSION = "2022-11-28"


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens a call used, as far as the provider said."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """A model's answer."""

    text: str
    model: str
    """The model that answered, as the provider names it (may be more specific than asked)."""
    provider: str
    usage: Usage | None = None
    finish_reason: str | None = None
    """Why the model stopped (``stop``, ``length``, ``end_turn``, ``MAX_TOKENS``, ...)."""


class WireRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP request to a provider. ``headers`` hold the API key: never log them."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]


class WireError(ValueError):
    """A reply that does not have the provider's shape; ``str()`` says what is wrong."""


def normalise_provider(name: str) -> Provider | None:
    """Our name for a provider name (case, spaces and aliases tolerated); ``None`` if unknown."""
    text = name.strip().lower()
    for known in PROVIDERS:
        if text == known:
            return known
    return ALIASES.get(text)


def endpoint(base_url: str, prefixes: tuple[str, ...], rest: str) -> str:
    """``base_url`` + the first of ``prefixes`` + ``rest``, unless ``base_url`` already ends
    with one of ``prefixes`` (then just ``base_url`` + ``rest``)."""
    base = base_url.rstrip("/")
    if any(base.endswith(p) for p in prefixes):
        return base + rest
    return base + prefixes[0] + rest


def build(
    provider: Provider,
    base_url: str,
    model: str,
    api_key: str,
    system: str,
    prompt: str,
    max_tokens: int,
) -> WireRequest:
    """The request that asks ``model`` for an answer to ``prompt`` under ``system``."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if provider == "anthropic":
        headers |= {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        }
        return WireRequest(
            url=endpoint(base_url, ("/v1",), "/messages"), headers=headers, body=body
        )
    if provider == "gemini":
        headers["x-goog-api-key"] = api_key
        name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": max_tokens},
        }
        rest = f"/{quote(name, safe='/-._~')}:generateContent"
        return WireRequest(
            url=endpoint(base_url, ("/v1beta", "/v1", "/v1alpha"), rest),
            headers=headers,
            body=body,
        )
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    if provider == "ollama":
        body = {
            "model": model,
            "messages": messages,
            "stream": False,
            "options": {"num_predict": max_tokens},
        }
        return WireRequest(url=endpoint(base_url, ("/api",), "/chat"), headers=headers, body=body)
    if provider == "copilot":
        headers |= {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
        }
        body = {"model": model, "messages": messages, "max_tokens": max_tokens}
        url = base_url.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        return WireRequest(url=url, headers=headers, body=body)
    limit = "max_tokens" if provider == "openai-compatible" else "max_completion_tokens"
    body = {"model": model, "messages": messages, limit: max_tokens}
    return WireRequest(
        url=endpoint(base_url, ("/v1",), "/chat/completions"), headers=headers, body=body
    )


# --- Replies ----------------------------------------------------------------------------


class _OpenAIMessage(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None


class _OpenAIChoice(msgspec.Struct):
    message: _OpenAIMessage
    finish_reason: str | None = None


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class _OpenAIReply(msgspec.Struct):
    choices: list[_OpenAIChoice]
    model: str | None = None
    usage: _OpenAIUsage | None = None


class _AnthropicBlock(msgspec.Struct):
    type: str
    text: str | None = None


class _AnthropicUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None


class _AnthropicReply(msgspec.Struct):
    content: list[_AnthropicBlock]
    model: str | None = None
    stop_reason: str | None = None
    usage: _AnthropicUsage | None = None


class _GeminiPart(msgspec.Struct):
    text: str | None = None
    thought: bool = False


class _GeminiContent(msgspec.Struct):
    parts: list[_GeminiPart] = []


class _GeminiCandidate(msgspec.Struct, rename="camel"):
    content: _GeminiContent | None = None
    finish_reason: str | None = None


class _GeminiUsage(msgspec.Struct, rename="camel"):
    prompt_token_count: int | None = None
    candidates_token_count: int | None = None
    total_token_count: int | None = None


class _GeminiFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class _GeminiReply(msgspec.Struct, rename="camel"):
    candidates: list[_GeminiCandidate] = []
    usage_metadata: _GeminiUsage | None = None
    model_version: str | None = None
    prompt_feedback: _GeminiFeedback | None = None


class _OllamaMessage(msgspec.Struct):
    content: str


class _OllamaReply(msgspec.Struct):
    message: _OllamaMessage
    model: str | None = None
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None


def parse(provider: Provider, model: str, raw: bytes) -> Completion:
    """The :class:`Completion` in a successful reply body; :class:`WireError` when the body
    is not JSON or not the provider's shape. ``model`` is used when the reply names none."""
    try:
        if provider == "anthropic":
            return _anthropic(provider, model, msgspec.json.decode(raw, type=_AnthropicReply))
        if provider == "gemini":
            return _gemini(provider, model, msgspec.json.decode(raw, type=_GeminiReply))
        if provider == "ollama":
            return _ollama(provider, model, msgspec.json.decode(raw, type=_OllamaReply))
        return _openai(provider, model, msgspec.json.decode(raw, type=_OpenAIReply))
    except msgspec.ValidationError as exc:
        raise WireError(f"unexpected reply shape: {exc}") from None
    except msgspec.DecodeError:
        raise WireError(f"reply is not JSON: {snippet(raw)!r}") from None


def _total(i: int | None, o: int | None, total: int | None) -> int | None:
    if total is not None:
        return total
    return i + o if i is not None and o is not None else None


def _openai(provider: Provider, model: str, reply: _OpenAIReply) -> Completion:
    if not reply.choices:
        raise WireError("reply has no choices")
    choice = reply.choices[0]
    text = choice.message.content
    if text is None:
        if choice.message.refusal:
            raise WireError(f"the model refused: {choice.message.refusal}")
        raise WireError("reply has no message content")
    u = reply.usage
    usage = (
        Usage(
            input_tokens=u.prompt_tokens,
            output_tokens=u.completion_tokens,
            total_tokens=_total(u.prompt_tokens, u.completion_tokens, u.total_tokens),
        )
        if u
        else None
    )
    return Completion(
        text=text,
        model=reply.model or model,
        provider=provider,
        usage=usage,
        finish_reason=choice.finish_reason,
    )


def _anthropic(provider: Provider, model: str, reply: _AnthropicReply) -> Completion:
    texts = [b.text for b in reply.content if b.type == "text" and b.text is not None]
    if not texts and reply.stop_reason != "max_tokens":
        raise WireError("reply has no text content")
    u = reply.usage
    usage = (
        Usage(
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            total_tokens=_total(u.input_tokens, u.output_tokens, None),
        )
        if u
        else None
    )
    return Completion(
        text="".join(texts),
        model=reply.model or model,
        provider=provider,
        usage=usage,
        finish_reason=reply.stop_reason,
    )


def _gemini(provider: Provider, model: str, reply: _GeminiReply) -> Completion:
    if not reply.candidates:
        blocked = reply.prompt_feedback.block_reason if reply.prompt_feedback else None
        raise WireError(f"prompt blocked: {blocked}" if blocked else "reply has no candidates")
    candidate = reply.candidates[0]
    parts = candidate.content.parts if candidate.content else []
    texts = [p.text for p in parts if p.text is not None and not p.thought]
    if not texts and candidate.finish_reason in (None, "STOP"):
        raise WireError("reply has no text parts")
    u = reply.usage_metadata
    usage = (
        Usage(
            input_tokens=u.prompt_token_count,
            output_tokens=u.candidates_token_count,
            total_tokens=_total(
                u.prompt_token_count, u.candidates_token_count, u.total_token_count
            ),
        )
        if u
        else None
    )
    return Completion(
        text="".join(texts),
        model=reply.model_version or model,
        provider=provider,
        usage=usage,
        finish_reason=candidate.finish_reason,
    )


def _ollama(provider: Provider, model: str, reply: _OllamaReply) -> Completion:
    usage = Usage(
        input_tokens=reply.prompt_eval_count,
        output_tokens=reply.eval_count,
        total_tokens=_total(reply.prompt_eval_count, reply.eval_count, None),
    )
    return Completion(
        text=reply.message.content,
        model=reply.model or model,
        provider=provider,
        usage=usage,
        finish_reason=reply.done_reason,
    )


# --- Error bodies -----------------------------------------------------------------------

_SNIPPET = 200


def snippet(raw: bytes) -> str:
    """The start of a body as text, for an error message."""
    text = raw[: _SNIPPET * 4].decode("utf-8", errors="replace").strip()
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def error_detail(raw: bytes) -> str:
    """The human part of an error body: ``error.message`` (OpenAI, Groq, Anthropic, Gemini),
    ``error`` (Ollama) or the start of the body."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return snippet(raw)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and error:
        return snippet(error.encode())
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("type") or error.get("status") or error.get("code")
        if isinstance(message, str) and message:
            text = f"{kind}: {message}" if isinstance(kind, str) and kind else message
            return snippet(text.encode())
    return snippet(raw)


def is_bad_key(raw: bytes) -> bool:
    """Whether a 400 body says the API key is invalid (Gemini answers a bad key with 400
    ``INVALID_ARGUMENT`` / ``API_KEY_INVALID`` rather than 401)."""
    return b"API_KEY_INVALID" in raw or b"API key not valid" in raw
