"""LLM provider clients: OpenAI, Anthropic, Gemini, Groq, Ollama, GitHub Models (``copilot``)
and OpenAI-compatible servers.

:func:`complete` asks the configured model for one answer over plain HTTP (httpx) and
returns a :class:`Completion`, or raises :class:`LLMError` with a ``kind`` the caller can
act on (fall back to the offline diagnosis, tell the admin the key is wrong, ...). The
whole call, retry included, is bounded by ``timeout``. One retry follows a 429, a 5xx or a
connection error, after a short backoff or the server's ``Retry-After`` (up to a cap) —
unless that wait would pass the deadline. :func:`test_connection` is the admin "test"
button: a tiny prompt, a :class:`TestResult`, never an exception.

The API key never appears in an exception message or a log line: it travels only in
request headers, and any text a server echoes back is scrubbed of it. The request formats
are in :mod:`kubeward.integrations.llm_wire`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar, Final, Literal

import httpx
import msgspec

from kubeward.core.logs import quiet_httpx
from kubeward.core.metrics import LLMMetrics
from kubeward.integrations.http_retry import retry_after_seconds
from kubeward.integrations.llm_wire import (
    DEFAULT_BASE_URLS,
    NEEDS_API_KEY,
    PROVIDERS,
    Completion,
    Provider,
    Usage,
    WireError,
    WireRequest,
    build,
    error_detail,
    is_bad_key,
    normalise_provider,
    parse,
)
from kubeward.schemas.setting_key import SettingValidationError, check_url, mask_secret
from kubeward.schemas.settings import LLMConfig

__all__ = [
    "PROVIDERS",
    "Completion",
    "ErrorKind",
    "LLMError",
    "Provider",
    "TestResult",
    "Usage",
    "complete",
    "test_connection",
]

log = logging.getLogger(__name__)

quiet_httpx()

ErrorKind = Literal["auth", "rate_limited", "timeout", "unavailable", "bad_response", "bad_config"]

USER_AGENT = "kubeward-llm/0.1"
DEFAULT_MAX_TOKENS: Final = 2048
RETRY_BACKOFF: Final = 0.5
"""Seconds before the retry when the server did not say (``Retry-After``)."""
RETRY_AFTER_CAP: Final = 10.0
"""A server's ``Retry-After`` is honoured up to this many seconds."""
MAX_REPLY_BYTES: Final = 8 * 1024 * 1024
"""A larger reply is refused (``bad_response``) rather than read into memory."""
TEST_SYSTEM = "You are a connectivity check. Answer with one word."
TEST_PROMPT = "Reply with the single word: ok"
TEST_MAX_TOKENS: Final = 64
_RETRYABLE: Final[frozenset[str]] = frozenset({"rate_limited", "unavailable"})
_MIN_SCRUB = 4


class LLMError(Exception):
    """A failed LLM call. ``kind`` says what to do about it:

    - ``auth`` — the key is missing, wrong or lacks access (401/403, Gemini's bad-key 400);
    - ``rate_limited`` — 429 (after the retry);
    - ``timeout`` — no answer within the call's time budget;
    - ``unavailable`` — 5xx, overload or no connection (after the retry);
    - ``bad_response`` — a 2xx whose body is not the provider's format;
    - ``bad_config`` — the configuration cannot work (unknown provider, no key, no base URL,
      unknown model or endpoint, a request the provider rejects).

    ``status`` is the last HTTP status (``None`` when no response came). ``str()`` is the
    message, which never contains the API key.
    """

    def __init__(self, kind: ErrorKind, status: int | None, message: str) -> None:
        self.kind: ErrorKind = kind
        self.status = status
        self.message = message
        self.retry_after: float | None = None
        """Seconds the server asked to wait before a retry, if it said."""
        super().__init__(message)

    def __repr__(self) -> str:
        return f"LLMError(kind={self.kind!r}, status={self.status!r}, message={self.message!r})"


class TestResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`test_connection`; ``error`` and ``kind`` only when not ``ok``."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    ok: bool
    provider: str
    model: str
    latency_ms: int
    error: str | None = None
    kind: ErrorKind | None = None


async def complete(
    config: LLMConfig,
    system: str,
    prompt: str,
    *,
    timeout: float = 30,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    client: httpx.AsyncClient | None = None,
    metrics: LLMMetrics | None = None,
) -> Completion:
    """Ask ``config``'s model to answer ``prompt`` under the ``system`` instructions.

    ``timeout`` bounds the whole call in seconds, retry and backoff included. ``client``
    lets callers share a connection pool (redirects are never followed, whatever its
    settings); without it a client is made for this call. ``metrics``, when given, counts
    the call (Kure's ``kure_llm_*``) once its configuration is usable. Raises
    :class:`LLMError`.
    """
    provider, base_url = _check(config)
    if metrics is None:
        return await _complete(
            config, provider, base_url, system, prompt, timeout, max_tokens, client
        )
    started = time.monotonic()
    ok = False
    try:
        completion = await _complete(
            config, provider, base_url, system, prompt, timeout, max_tokens, client
        )
        ok = True
        return completion
    finally:
        metrics.record(provider, ok, time.monotonic() - started)


async def _complete(
    config: LLMConfig,
    provider: Provider,
    base_url: str,
    system: str,
    prompt: str,
    timeout: float,
    max_tokens: int,
    client: httpx.AsyncClient | None,
) -> Completion:
    request = build(
        provider, base_url, config.model.strip(), config.api_key, system, prompt, max_tokens
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            if client is not None:
                return await _attempts(client, provider, config, request, deadline)
            async with _new_client(timeout) as own:
                return await _attempts(own, provider, config, request, deadline)
    except TimeoutError:
        raise LLMError("timeout", None, f"{provider}: no answer within {timeout:g}s") from None


async def test_connection(
    config: LLMConfig,
    *,
    timeout: float = 15,  # noqa: PT028 - not a pytest test (the admin "test" button)
    client: httpx.AsyncClient | None = None,  # noqa: PT028
) -> TestResult:
    """Send a tiny prompt to ``config``'s model; report whether it answered. Never raises."""
    provider = normalise_provider(config.provider) or config.provider
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        completion = await complete(
            config,
            TEST_SYSTEM,
            TEST_PROMPT,
            timeout=timeout,
            max_tokens=TEST_MAX_TOKENS,
            client=client,
        )
    except LLMError as exc:
        return TestResult(
            ok=False,
            provider=provider,
            model=config.model,
            latency_ms=elapsed(),
            error=exc.message,
            kind=exc.kind,
        )
    except Exception as exc:  # the admin endpoint must get an answer, whatever happened
        name = type(exc).__name__
        log.error("LLM connection test for %s failed unexpectedly: %s", provider, name)
        return TestResult(
            ok=False,
            provider=provider,
            model=config.model,
            latency_ms=elapsed(),
            error=f"internal error: {name}",
        )
    return TestResult(ok=True, provider=provider, model=completion.model, latency_ms=elapsed())


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _check(config: LLMConfig) -> tuple[Provider, str]:
    """The provider and base URL ``config`` points at, or ``bad_config``."""
    provider = normalise_provider(config.provider)
    if provider is None:
        raise LLMError(
            "bad_config",
            None,
            f"unknown LLM provider {config.provider.strip()[:40]!r}; one of {', '.join(PROVIDERS)}",
        )
    if not config.model.strip():
        raise LLMError("bad_config", None, f"{provider}: no model configured")
    key = config.api_key
    if key and (not key.isascii() or not key.isprintable() or any(c.isspace() for c in key)):
        raise LLMError("bad_config", None, f"{provider}: api_key must be one token of ASCII")
    if provider in NEEDS_API_KEY and not key:
        raise LLMError("bad_config", None, f"{provider}: an api_key is required")
    base_url = config.base_url or DEFAULT_BASE_URLS[provider]
    if base_url is None:
        raise LLMError("bad_config", None, f"{provider}: a base_url is required")
    try:
        return provider, check_url("llm", "base_url", base_url)
    except SettingValidationError as exc:
        raise LLMError("bad_config", None, f"{provider}: {exc}") from None


def _new_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )


async def _attempts(
    client: httpx.AsyncClient,
    provider: Provider,
    config: LLMConfig,
    request: WireRequest,
    deadline: float,
) -> Completion:
    """At most two attempts; the second only after a retryable failure and only if its
    backoff ends before ``deadline``."""
    try:
        return await _attempt(client, provider, config, request, deadline)
    except LLMError as exc:
        if exc.kind not in _RETRYABLE:
            raise
        delay = RETRY_BACKOFF if exc.retry_after is None else min(exc.retry_after, RETRY_AFTER_CAP)
        if asyncio.get_running_loop().time() + delay >= deadline:
            raise  # waiting would use up the time budget: report the failure now
        log.warning("LLM call to %s failed (%s); retrying in %.2fs", provider, exc.message, delay)
        await asyncio.sleep(delay)
    return await _attempt(client, provider, config, request, deadline)


async def _attempt(
    client: httpx.AsyncClient,
    provider: Provider,
    config: LLMConfig,
    request: WireRequest,
    deadline: float,
) -> Completion:
    """One request and its reply, or :class:`LLMError`."""
    remaining = max(0.001, deadline - asyncio.get_running_loop().time())
    started = time.perf_counter()
    try:
        async with client.stream(
            "POST",
            request.url,
            content=msgspec.json.encode(request.body),
            headers=request.headers,
            timeout=remaining,
            follow_redirects=False,  # a redirect would carry the key to another address
        ) as response:
            status = response.status_code
            raw = await _read(response, provider)
            retry_after = _retry_after(response)
    except httpx.TimeoutException:
        raise TimeoutError from None  # reported by complete(), with the budget
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        message = _scrub(f"{provider}: bad base_url: {exc}", config.api_key)
        raise LLMError("bad_config", None, message) from None
    except httpx.HTTPError as exc:
        message = _scrub(
            f"{provider}: cannot reach it: {type(exc).__name__}: {exc}", config.api_key
        )
        raise LLMError("unavailable", None, message.rstrip(": ")) from None
    if 200 <= status < 300:
        try:
            completion = parse(provider, config.model.strip(), raw)
        except WireError as exc:
            message = _scrub(f"{provider}: {exc}", config.api_key)
            raise LLMError("bad_response", status, message) from None
        log.debug(
            "LLM %s/%s answered in %d ms (%s tokens)",
            provider,
            completion.model,
            round((time.perf_counter() - started) * 1000),
            completion.usage.total_tokens if completion.usage else "?",
        )
        return completion
    error = LLMError(
        _kind(status, raw),
        status,
        _scrub(f"{provider}: HTTP {status}: {_detail(status, raw)}", config.api_key),
    )
    error.retry_after = retry_after
    raise error


def _kind(status: int, raw: bytes) -> ErrorKind:
    """The :data:`ErrorKind` of a non-2xx answer."""
    if status in (401, 403) or (status == 400 and is_bad_key(raw)):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:  # Anthropic's 529 "overloaded" included
        return "unavailable"
    return "bad_config"  # 3xx, 400, 404 (model or endpoint), 422, ...


def _detail(status: int, raw: bytes) -> str:
    if 300 <= status < 400:
        return "redirected; point base_url at the final address"
    if status == 404:
        return f"model or endpoint not found ({error_detail(raw)})"
    return error_detail(raw)


async def _read(response: httpx.Response, provider: Provider) -> bytes:
    """The body, refusing one larger than :data:`MAX_REPLY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise LLMError(
                "bad_response",
                response.status_code,
                f"{provider}: reply larger than {MAX_REPLY_BYTES} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or HTTP date)."""
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after_seconds(response.headers.get("retry-after"))


def _scrub(text: str, secret: str) -> str:
    """``text`` with the API key replaced by its masked form (keys under 4 characters are
    not looked for: they would match ordinary text)."""
    if len(secret) < _MIN_SCRUB:
        return text
    return text.replace(secret, mask_secret(secret))
