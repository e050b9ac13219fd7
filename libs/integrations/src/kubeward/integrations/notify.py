"""Notification senders: Slack, Microsoft Teams, Discord and a generic webhook over HTTP.

:func:`send` delivers one notification to one provider with a per-attempt timeout and
bounded retries (exponential backoff on connection errors, timeouts, 5xx and 429, honouring
``Retry-After`` up to a cap). It never raises for a failing webhook: it returns a
:class:`SendResult`. :func:`send_all` sends to several providers concurrently, so a slow
or broken one never holds up the others. Webhook URLs are secrets: they never appear in a
result, an exception message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx
import msgspec

from kubeward.core.logs import quiet_httpx
from kubeward.integrations.http_retry import retry_after_seconds
from kubeward.integrations.notify_payloads import BUILDERS, Notification, Severity
from kubeward.schemas.setting_key import SettingValidationError, check_url, mask_url
from kubeward.schemas.settings import WebhookConfig

__all__ = [
    "DEFAULT_POLICY",
    "Notification",
    "SendPolicy",
    "SendResult",
    "Severity",
    "send",
    "send_all",
    "test_message",
]

log = logging.getLogger(__name__)

quiet_httpx()

USER_AGENT = "kubeward-notify/0.1"
_BODY_SNIPPET = 200


class SendPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How hard :func:`send` tries."""

    timeout: float = 10.0
    """Seconds one attempt may take, connection and response included."""
    attempts: int = 3
    """Attempts in all (1 = no retry)."""
    backoff: float = 0.5
    """Wait before the first retry; doubled for each further one."""
    max_backoff: float = 8.0
    retry_after_cap: float = 30.0
    """A server's ``Retry-After`` is honoured up to this many seconds."""
    deadline: float = 60.0
    """No retry starts that could not finish within this many seconds of the first."""


DEFAULT_POLICY = SendPolicy()


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one delivery. ``status`` is the last HTTP status (``None`` when no
    response came); ``error`` says why it failed, without the webhook URL."""

    provider: str
    ok: bool
    status: int | None = None
    error: str | None = None
    attempts: int = 0


def test_message(provider: str) -> Notification:
    """The message the admin "test" endpoint sends."""
    name = {"slack": "Slack", "teams": "Microsoft Teams", "discord": "Discord"}.get(
        provider, "Webhook"
    )
    return Notification(
        title="Kubeward test notification",
        text=f"{name} notifications from Kubeward are working.",
        severity="info",
    )


test_message.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def send(
    provider: str,
    config: WebhookConfig,
    notification: Notification,
    *,
    client: httpx.AsyncClient | None = None,
    policy: SendPolicy = DEFAULT_POLICY,
) -> SendResult:
    """Deliver ``notification`` to ``provider``'s webhook; never raises for delivery failures.

    ``client`` lets callers share one connection pool; without it a client is made for
    this call.
    """
    builder = BUILDERS.get(provider)
    if builder is None:
        return SendResult(provider=provider, ok=False, error=f"unknown provider {provider!r}")
    try:
        url = check_url(f"notifications.{provider}", "config.webhook_url", config.webhook_url)
    except SettingValidationError as exc:
        return SendResult(provider=provider, ok=False, error=str(exc))
    body = msgspec.json.encode(builder(notification))
    if client is not None:
        result = await _deliver(client, provider, url, body, policy)
    else:
        async with _new_client(policy) as own:
            result = await _deliver(own, provider, url, body, policy)
    if not result.ok:
        log.warning(
            "notification to %s failed after %d attempt(s): %s",
            provider,
            result.attempts,
            result.error,
        )
    return result


async def send_all(
    providers: Mapping[str, WebhookConfig],
    notification: Notification,
    *,
    client: httpx.AsyncClient | None = None,
    policy: SendPolicy = DEFAULT_POLICY,
) -> dict[str, SendResult]:
    """Send to every provider in ``providers`` (name -> config) at once; returns each
    provider's result. Each delivery is bounded by ``policy`` on its own."""
    if not providers:
        return {}

    async def run(shared: httpx.AsyncClient) -> dict[str, SendResult]:
        names = list(providers)
        results = await asyncio.gather(
            *(send(p, providers[p], notification, client=shared, policy=policy) for p in names),
            return_exceptions=True,
        )
        return {
            name: r
            if isinstance(r, SendResult)
            else SendResult(provider=name, ok=False, error=f"internal error: {type(r).__name__}")
            for name, r in zip(names, results, strict=True)
        }

    if client is not None:
        return await run(client)
    async with _new_client(policy) as own:
        return await run(own)


def _new_client(policy: SendPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=policy.timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


async def _deliver(
    client: httpx.AsyncClient, provider: str, url: str, body: bytes, policy: SendPolicy
) -> SendResult:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.deadline
    attempts = max(1, policy.attempts)
    status: int | None = None
    error = "not sent"
    for attempt in range(1, attempts + 1):
        retry_after: float | None = None
        try:
            async with asyncio.timeout(policy.timeout):
                response = await client.post(
                    url,
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=policy.timeout,
                )
        except (TimeoutError, httpx.TimeoutException):
            status, error = None, f"no response within {policy.timeout:g}s"
        except httpx.HTTPError as exc:
            status, error = None, _scrub(f"{type(exc).__name__}: {exc}", url)
        else:
            status = response.status_code
            if 200 <= status < 300:
                return SendResult(provider=provider, ok=True, status=status, attempts=attempt)
            error = _scrub(f"HTTP {status}: {response.text[:_BODY_SNIPPET]}".strip(), url)
            if status != 429 and status < 500:
                return SendResult(
                    provider=provider, ok=False, status=status, error=error, attempts=attempt
                )
            retry_after = _retry_after(response)
        if attempt == attempts:
            break
        delay = min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff)
        if retry_after is not None:
            delay = min(retry_after, policy.retry_after_cap)
        if loop.time() + delay + policy.timeout > deadline:
            error += f"; gave up: next attempt would pass the {policy.deadline:g}s deadline"
            break
        await asyncio.sleep(delay)
    return SendResult(provider=provider, ok=False, status=status, error=error, attempts=attempt)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or HTTP date), or Discord's JSON
    ``retry_after``; ``None`` when neither is usable."""
    header = response.headers.get("Retry-After")
    if header:
        return retry_after_seconds(header)
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    return max(0.0, float(value)) if isinstance(value, int | float) else None


def _scrub(text: str, url: str) -> str:
    """``text`` with the webhook URL (a secret) replaced by its masked form."""
    return text.replace(url, mask_url(url))
