"""Notification senders against a real local HTTP server that records what arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from kubeward.devstack.procs import free_port
from kubeward.devstack.testing import eventually
from kubeward.integrations import notify
from kubeward.integrations.notify import Notification, SendPolicy, send, send_all
from kubeward.schemas.settings import WebhookConfig

FAST = SendPolicy(timeout=2.0, attempts=3, backoff=0.01, retry_after_cap=5.0, deadline=20.0)
NOTE = Notification(
    title="Pod web-1 failed",
    text="CrashLoopBackOff: exit code 1",
    severity="error",
    fields={"namespace": "default", "pod": "web-1"},
    url="http://kubeward.local/pods/1",
    at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


class Answer(msgspec.Struct, frozen=True):
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = {}
    hang: bool = False


class Received(msgspec.Struct, frozen=True):
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class Receiver:
    """A tiny HTTP/1.1 server on a free port: records requests, answers from a script
    (then 200), can hang without answering. One request per connection."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Answer] = []
        self.port = free_port()
        self._stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = h.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            now = asyncio.get_running_loop().time()
            self.requests.append(Received(method, path, headers, body, now))
            answer = self.script.pop(0) if self.script else Answer()
            if answer.hang:
                await self._stop.wait()
                return
            head = [f"HTTP/1.1 {answer.status} X", f"Content-Length: {len(answer.body)}"]
            head += [f"{k}: {v}" for k, v in answer.headers.items()]
            head.append("Connection: close")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + answer.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running :class:`Receiver`."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def second_receiver() -> AsyncIterator[Receiver]:
    """Another running :class:`Receiver`."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def _one(receiver: Receiver, provider: str) -> Received:
    result = await send(provider, WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert result == notify.SendResult(provider=provider, ok=True, status=200, attempts=1)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("kubeward-notify/")
    return request


async def test_slack_wire_payload(receiver: Receiver) -> None:
    request = await _one(receiver, "slack")
    assert request.json() == {
        "text": "[ERROR] Pod web-1 failed: CrashLoopBackOff: exit code 1",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":x: Pod web-1 failed", "emoji": True},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "CrashLoopBackOff: exit code 1"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*namespace*\ndefault"},
                    {"type": "mrkdwn", "text": "*pod*\nweb-1"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "*ERROR* · Kubeward · 2026-01-02T03:04:05Z"}
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Kubeward"},
                        "url": "http://kubeward.local/pods/1",
                    }
                ],
            },
        ],
    }


async def test_teams_wire_payload(receiver: Receiver) -> None:
    request = await _one(receiver, "teams")
    assert request.json() == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "Pod web-1 failed",
                            "size": "Large",
                            "weight": "Bolder",
                            "wrap": True,
                            "color": "Attention",
                        },
                        {
                            "type": "TextBlock",
                            "text": "CrashLoopBackOff: exit code 1",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Severity", "value": "ERROR"},
                                {"title": "namespace", "value": "default"},
                                {"title": "pod", "value": "web-1"},
                                {"title": "Time", "value": "2026-01-02T03:04:05Z"},
                            ],
                        },
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Open in Kubeward",
                            "url": "http://kubeward.local/pods/1",
                        }
                    ],
                },
            }
        ],
    }


async def test_discord_wire_payload(receiver: Receiver) -> None:
    request = await _one(receiver, "discord")
    assert request.json() == {
        "content": "**[ERROR]** Pod web-1 failed",
        "embeds": [
            {
                "title": "Pod web-1 failed",
                "description": "CrashLoopBackOff: exit code 1",
                "color": 0xE67E22,
                "timestamp": "2026-01-02T03:04:05Z",
                "footer": {"text": "Kubeward"},
                "fields": [
                    {"name": "namespace", "value": "default", "inline": True},
                    {"name": "pod", "value": "web-1", "inline": True},
                ],
                "url": "http://kubeward.local/pods/1",
            }
        ],
        "allowed_mentions": {"parse": []},
    }


async def test_generic_webhook_wire_payload(receiver: Receiver) -> None:
    request = await _one(receiver, "webhook")
    assert request.json() == {
        "source": "kubeward",
        "title": "Pod web-1 failed",
        "text": "CrashLoopBackOff: exit code 1",
        "severity": "error",
        "fields": {"namespace": "default", "pod": "web-1"},
        "url": "http://kubeward.local/pods/1",
        "at": "2026-01-02T03:04:05Z",
    }


async def test_slack_control_characters_are_escaped(receiver: Receiver) -> None:
    note = Notification(title="a", text="<!channel> & <http://x|y>", at=NOTE.at)
    await send("slack", WebhookConfig(webhook_url=receiver.url()), note, policy=FAST)
    section = receiver.requests[0].json()["blocks"][1]
    assert section["text"]["text"] == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"


async def test_retries_on_5xx_then_succeeds(receiver: Receiver) -> None:
    receiver.script = [Answer(500), Answer(502)]
    result = await send("webhook", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert (result.ok, result.status, result.attempts) == (True, 200, 3)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same message each time


async def test_gives_up_after_the_attempts_with_a_result(receiver: Receiver) -> None:
    receiver.script = [Answer(503, b"down")] * 5
    result = await send("slack", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert result == notify.SendResult(
        provider="slack", ok=False, status=503, error="HTTP 503: down", attempts=3
    )
    assert len(receiver.requests) == 3


async def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.script = [Answer(400, b"invalid_payload")]
    result = await send("slack", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert (result.ok, result.status, result.error) == (False, 400, "HTTP 400: invalid_payload")
    assert len(receiver.requests) == 1


async def test_429_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.script = [Answer(429, headers={"Retry-After": "1"})]
    result = await send("discord", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert (result.ok, result.attempts) == (True, 2)
    first, second = receiver.requests
    assert second.at - first.at >= 0.95  # waited as told, not the 0.01 s backoff


async def test_retry_after_is_capped(receiver: Receiver) -> None:
    receiver.script = [Answer(429, headers={"Retry-After": "3600"})]
    policy = msgspec.structs.replace(FAST, retry_after_cap=0.3)
    result = await send("discord", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=policy)
    assert result.ok
    first, second = receiver.requests
    assert 0.25 <= second.at - first.at < 3


async def test_discord_json_retry_after_is_used(receiver: Receiver) -> None:
    receiver.script = [Answer(429, body=b'{"retry_after": 0.5, "global": false}')]
    result = await send("discord", WebhookConfig(webhook_url=receiver.url()), NOTE, policy=FAST)
    assert result.ok
    first, second = receiver.requests
    assert second.at - first.at >= 0.45


async def test_connection_refused_is_a_result_without_the_secret() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/SECRETTOKEN123456"
    result = await send("slack", WebhookConfig(webhook_url=url), NOTE, policy=FAST)
    assert (result.ok, result.status, result.attempts) == (False, None, 3)
    assert result.error and "SECRETTOKEN" not in result.error


async def test_unknown_provider_and_bad_url_do_not_raise() -> None:
    config = WebhookConfig(webhook_url="http://127.0.0.1/x")
    result = await send("pager", config, NOTE)
    assert (result.ok, result.error) == (False, "unknown provider 'pager'")
    result = await send("slack", WebhookConfig(webhook_url="nope"), NOTE)
    assert not result.ok and result.error and "webhook_url" in result.error


async def test_a_hanging_webhook_does_not_hold_up_the_others(
    receiver: Receiver, second_receiver: Receiver
) -> None:
    receiver.script = [Answer(hang=True)] * 5
    policy = SendPolicy(timeout=1.0, attempts=2, backoff=0.05, deadline=10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await send_all(
        {
            "slack": WebhookConfig(webhook_url=receiver.url()),
            "discord": WebhookConfig(webhook_url=second_receiver.url()),
        },
        NOTE,
        policy=policy,
    )
    elapsed = loop.time() - started
    [delivered] = second_receiver.requests
    assert delivered.at - started < policy.timeout  # not queued behind the hanging one
    assert results["discord"] == notify.SendResult(
        provider="discord", ok=True, status=200, attempts=1
    )
    assert results["slack"] == notify.SendResult(
        provider="slack", ok=False, status=None, error="no response within 1s", attempts=2
    )
    assert len(receiver.requests) == 2
    assert elapsed < 2 * policy.timeout + 1.0  # bounded by the policy, not by the receiver


async def test_send_all_with_nothing_enabled() -> None:
    assert await send_all({}, NOTE) == {}


async def test_test_message_reaches_the_receiver(receiver: Receiver) -> None:
    message = notify.test_message("teams")
    assert message.title == "Kubeward test notification"
    assert "Microsoft Teams" in message.text
    results = await send_all({"teams": WebhookConfig(webhook_url=receiver.url())}, message)
    assert results["teams"].ok
    await eventually(lambda: _count(receiver), lambda n: n == 1, what="test message arrived")
    body = receiver.requests[0].json()
    assert body["attachments"][0]["content"]["body"][0]["text"] == "Kubeward test notification"


async def _count(r: Receiver) -> int:
    return len(r.requests)


async def test_webhook_urls_stay_out_of_the_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kubeward")
    caplog.set_level(logging.INFO)
    receiver.script = [Answer(500)] * 3
    url = receiver.url("/hooks/VERYSECRETPATH0001")
    await send("webhook", WebhookConfig(webhook_url=url), NOTE, policy=FAST)
    assert caplog.records, "the failure is logged"
    assert all("VERYSECRETPATH" not in r.getMessage() for r in caplog.records)
