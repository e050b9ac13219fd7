"""A local stand-in for the LLM providers' HTTP APIs, for tests of the real clients.

:class:`FakeLLM` is a plain ASGI app (serve it with :func:`serve_fake_llm`, or with
:func:`kubeward.devstack.testing.serve_asgi`). It records every request as it arrived
(:class:`Seen`) and answers each one from its ``script`` of :class:`Answer` s, in order;
once the script is used up it gives the provider's usual success reply. Success replies are
in each provider's real format, chosen by the request path:

- ``.../chat/completions`` — OpenAI, Groq and OpenAI-compatible servers;
- ``.../messages`` — Anthropic;
- ``...:generateContent`` — Gemini;
- ``.../api/chat`` — Ollama.

Any other path gets a 200 whose body is no provider's format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from kubeward.devstack.testing import serve_asgi

__all__ = ["DEFAULT_ANSWER", "Answer", "FakeLLM", "Seen", "serve_fake_llm", "success_body"]

DEFAULT_ANSWER = "## Root Cause\nThe DATABASE_URL variable is missing."
"""The text a success reply carries unless the server or the :class:`Answer` says otherwise."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Answer(msgspec.Struct, frozen=True):
    """How the server answers one request.

    ``body=None`` means the path's success reply, carrying ``text`` (the server's answer
    text when ``text`` is ``None``). ``headers`` are added to the response. ``hang=True``
    holds the request open until the server's ``release`` event is set (at teardown).
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = {}
    hang: bool = False
    text: str | None = None


class Seen(msgspec.Struct, frozen=True):
    """One request as it arrived. Header names are lower-cased."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float
    """Event-loop time of arrival (``loop.time()``)."""

    def json(self) -> Any:
        """The body decoded as JSON."""
        return msgspec.json.decode(self.body)


def success_body(path: str, text: str = DEFAULT_ANSWER) -> bytes:
    """The reply a provider sends to a successful call on ``path``, answering ``text``."""
    if path.endswith("/chat/completions"):
        reply: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1767225600,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
        }
    elif path.endswith("/messages"):
        reply = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 12},
        }
    elif path.endswith(":generateContent"):
        reply = {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 30,
                "candidatesTokenCount": 12,
                "totalTokenCount": 42,
            },
            "modelVersion": "gemini-2.0-flash",
        }
    elif path.endswith("/api/chat"):
        reply = {
            "model": "llama3.1:8b",
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop",
            "done": True,
            "prompt_eval_count": 30,
            "eval_count": 12,
        }
    else:
        return b'{"error": "no such endpoint"}'
    return msgspec.json.encode(reply)


class FakeLLM:
    """An ASGI app that speaks the providers' formats and records what it was sent.

    Tests set ``script`` before the call and read ``requests`` after it. ``url`` is the
    base URL once served by :func:`serve_fake_llm`.
    """

    def __init__(self, answer: str = DEFAULT_ANSWER) -> None:
        self.answer = answer
        """The text of success replies when the :class:`Answer` names none."""
        self.requests: list[Seen] = []
        self.script: list[Answer] = []
        self.release = asyncio.Event()
        """Hanging requests wait for this; :func:`serve_fake_llm` sets it at teardown."""
        self.url = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (lifespan or HTTP)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        self.requests.append(
            Seen(
                method=scope["method"],
                path=path,
                query=scope["query_string"].decode(),
                headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
                body=body,
                at=asyncio.get_running_loop().time(),
            )
        )
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hang:
            await self.release.wait()
        if answer.body is None:
            content = success_body(path, self.answer if answer.text is None else answer.text)
        else:
            content = answer.body
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@asynccontextmanager
async def serve_fake_llm(answer: str = DEFAULT_ANSWER) -> AsyncIterator[FakeLLM]:
    """A running :class:`FakeLLM` on a free loopback port (its ``url`` set); hanging
    requests are released before it stops."""
    app = FakeLLM(answer)
    async with serve_asgi(app) as url:
        app.url = url
        try:
            yield app
        finally:
            app.release.set()
