"""What a notification looks like on the wire for Slack, Teams, Discord and our webhook.

Pure functions from a :class:`Notification` to the JSON body each service's incoming
webhook accepts, with each service's length limits applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

Severity = Literal["info", "warning", "error", "critical"]


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """A message for people: a title, a text, how bad it is, a few facts and a link."""

    title: str
    text: str
    severity: Severity = "info"
    fields: dict[str, str] = {}
    """Short facts shown as name/value pairs (namespace, pod, reason, ...), in order."""
    url: str | None = None
    """Where to look (e.g. the pod failure in the Kubeward UI)."""
    at: datetime | None = None
    """When it happened; ``None`` means now."""


class WebhookPayload(msgspec.Struct, frozen=True, kw_only=True):
    """The generic webhook's JSON body (our own format)."""

    source: str
    title: str
    text: str
    severity: Severity
    fields: dict[str, str]
    url: str | None
    at: str
    """RFC 3339, UTC."""


_SLACK_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "error": ":x:",
    "critical": ":rotating_light:",
}
_TEAMS_COLOR = {
    "info": "Accent",
    "warning": "Warning",
    "error": "Attention",
    "critical": "Attention",
}
_DISCORD_COLOR = {"info": 0x3498DB, "warning": 0xF1C40F, "error": 0xE67E22, "critical": 0xE74C3C}


def timestamp(n: Notification) -> str:
    """The notification's time as RFC 3339 in UTC (``2026-01-02T03:04:05Z``)."""
    at = (n.at or datetime.now(UTC)).astimezone(UTC)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats ``&``, ``<`` and ``>`` as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(n: Notification) -> dict[str, Any]:
    """Slack incoming webhook: ``text`` (the fallback shown in notifications) + blocks."""
    label = n.severity.upper()
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{_SLACK_EMOJI[n.severity]} {n.title}", 150),
                "emoji": True,
            },
        }
    ]
    if n.text:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(_slack_escape(n.text), 3000)},
            }
        )
    if n.fields:
        facts = [
            {"type": "mrkdwn", "text": _cut(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", 2000)}
            for k, v in list(n.fields.items())[:10]
        ]
        blocks.append({"type": "section", "fields": facts})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"*{label}* · Kubeward · {timestamp(n)}"}],
        }
    )
    if n.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Kubeward"},
                        "url": n.url,
                    }
                ],
            }
        )
    fallback = _cut(_slack_escape(f"[{label}] {n.title}: {n.text}" if n.text else n.title), 3000)
    return {"text": fallback, "blocks": blocks}


def teams(n: Notification) -> dict[str, Any]:
    """Microsoft Teams (Workflows or connector webhook): a message with an Adaptive Card."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": n.title,
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": _TEAMS_COLOR[n.severity],
        }
    ]
    if n.text:
        body.append({"type": "TextBlock", "text": n.text, "wrap": True})
    facts = [{"title": "Severity", "value": n.severity.upper()}]
    facts += [{"title": k, "value": v} for k, v in n.fields.items()]
    facts.append({"title": "Time", "value": timestamp(n)})
    body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if n.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Kubeward", "url": n.url}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def discord(n: Notification) -> dict[str, Any]:
    """Discord webhook: a short ``content`` line and one embed; mentions are disabled so a
    pod name like ``@everyone`` cannot ping a server."""
    embed: dict[str, Any] = {
        "title": _cut(n.title, 256),
        "description": _cut(n.text, 4096),
        "color": _DISCORD_COLOR[n.severity],
        "timestamp": timestamp(n),
        "footer": {"text": "Kubeward"},
    }
    if n.fields:
        embed["fields"] = [
            {"name": _cut(k, 256) or "-", "value": _cut(v, 1024) or "-", "inline": True}
            for k, v in list(n.fields.items())[:25]
        ]
    if n.url:
        embed["url"] = n.url
    return {
        "content": _cut(f"**[{n.severity.upper()}]** {n.title}", 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def webhook(n: Notification) -> dict[str, Any]:
    """Our generic webhook body: :class:`WebhookPayload`."""
    payload = WebhookPayload(
        source="kubeward",
        title=n.title,
        text=n.text,
        severity=n.severity,
        fields=dict(n.fields),
        url=n.url,
        at=timestamp(n),
    )
    result: dict[str, Any] = msgspec.to_builtins(payload)
    return result


BUILDERS: dict[str, Callable[[Notification], dict[str, Any]]] = {
    "slack": slack,
    "teams": teams,
    "discord": discord,
    "webhook": webhook,
}
"""Provider name -> payload builder."""
