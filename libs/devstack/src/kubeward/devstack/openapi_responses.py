"""Check real HTTP responses against the response schemas an OpenAPI document declares.

:class:`ResponseSchemas` reads an app's OpenAPI document and its routes; its
:meth:`~ResponseSchemas.check` takes one answered request (method, path, status, content
type, body) and raises :class:`SchemaMismatchError` when a 2xx JSON body does not validate
against the schema its operation declares for that status. Operations that declare no
schema (``{}``) accept any body. :meth:`~ResponseSchemas.asgi` wraps the app so every
answer it sends is checked whoever asked (the mismatches are kept, and
:meth:`~ResponseSchemas.assert_clean` raises on them): the gateway's test fixtures serve
their apps so, and every test's calls double as a check that the OpenAPI document tells
clients the truth about the bodies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import jsonschema_rs

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


class SchemaMismatchError(AssertionError):
    """A response body that its operation's declared schema rejects."""


class _Operation:
    __slots__ = ("literal", "method", "name", "pattern", "responses")

    def __init__(self, method: str, path: str, openapi_path: str, operation: dict[str, Any]):
        self.method = method
        self.name = f"{method} {openapi_path}"
        parts: list[str] = []
        last = 0
        for match in _PARAM.finditer(path):
            parts.append(re.escape(path[last : match.start()]))
            parts.append(".+" if match.group(2) == "path" else "[^/]+")
            last = match.end()
        parts.append(re.escape(path[last:]))
        self.pattern = re.compile("".join(parts) + r"/?\Z")
        self.literal = len(_PARAM.sub("", path))
        """Characters outside parameters: the most literal match wins, as in the router."""
        self.responses: dict[str, Any] = operation.get("responses", {})


class ResponseSchemas:
    """The declared 2xx JSON response schemas of an app, checkable against real answers.

    ``routes``: ``(method, path, openapi_path)`` of each route, ``path`` with its parameter
    types as the router reads them (``/x/{name:path}`` matches slashes, ``/x/{id:str}`` not),
    ``openapi_path`` as the document spells it (``/x/{name}``).
    """

    def __init__(self, spec: dict[str, Any], routes: Iterable[tuple[str, str, str]]) -> None:
        self._components = spec.get("components", {})
        self._validators: dict[tuple[str, str], Any] = {}
        self._operations: list[_Operation] = []
        for method, path, openapi_path in routes:
            operation = spec["paths"].get(openapi_path, {}).get(method.lower())
            if operation is not None:
                self._operations.append(_Operation(method, path, openapi_path, operation))
        self.checked: dict[str, int] = {}
        """Responses validated against a declared schema, per operation."""
        self.mismatches: list[str] = []
        """What :meth:`asgi` saw break a declared schema."""

    @classmethod
    def of_litestar(cls, app: Any) -> ResponseSchemas:
        """The schemas of a Litestar app (read through its attributes: devstack does not
        depend on Litestar): its OpenAPI document and its HTTP routes."""
        routes = [
            (method, route.path, route.path_format)
            for route in app.routes
            for handler in getattr(route, "route_handlers", ())
            for method in getattr(handler, "http_methods", ())
        ]
        return cls(app.openapi_schema.to_schema(), routes)

    def _operation(self, method: str, path: str) -> _Operation | None:
        found = [op for op in self._operations if op.method == method and op.pattern.match(path)]
        return max(found, key=lambda op: op.literal) if found else None

    def schema(self, method: str, path: str, status: int) -> tuple[str, dict[str, Any]] | None:
        """The operation's name and declared JSON schema for ``status``, when it has one."""
        operation = self._operation(method, path)
        if operation is None:
            return None
        response = operation.responses.get(str(status), {})
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        return (operation.name, schema) if schema else None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raise :class:`SchemaMismatchError` when a 2xx JSON ``body`` breaks its schema."""
        if not 200 <= status < 300 or not content_type.startswith("application/json"):
            return
        found = self.schema(method, path, status)
        if found is None or not body:
            return
        name, schema = found
        key = (name, str(status))
        validator = self._validators.get(key)
        if validator is None:
            validator = jsonschema_rs.validator_for({**schema, "components": self._components})
            self._validators[key] = validator
        errors = [
            f"{'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message[:300]}"
            for e in validator.iter_errors(json.loads(body))
        ]
        if errors:
            shown = "\n  ".join(errors[:10])
            raise SchemaMismatchError(
                f"{name} answered {status} with a body its declared schema rejects:\n  {shown}"
                f"\nbody: {body[:500]!r}"
            )
        self.checked[name] = self.checked.get(name, 0) + 1

    def asgi(self, app: Any) -> Any:
        """``app`` with every 2xx JSON answer it sends checked (mismatches kept in
        :attr:`mismatches`; the answer itself goes out unchanged)."""

        async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = 0
            content_type = ""
            chunks: list[bytes] = []

            async def capture(message: dict[str, Any]) -> None:
                nonlocal status, content_type
                if message["type"] == "http.response.start":
                    status = message["status"]
                    for name, value in message.get("headers", ()):
                        if name.lower() == b"content-type":
                            content_type = value.decode("latin-1")
                elif message["type"] == "http.response.body" and content_type.startswith(
                    "application/json"
                ):
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        self._record(scope["method"], scope["path"], status, content_type, chunks)
                await send(message)

            await app(scope, receive, capture)

        return checked

    def _record(
        self, method: str, path: str, status: int, content_type: str, chunks: list[bytes]
    ) -> None:
        try:
            self.check(method, path, status, content_type, b"".join(chunks))
        except SchemaMismatchError as exc:
            self.mismatches.append(str(exc))

    def assert_clean(self) -> None:
        """Raise :class:`SchemaMismatchError` listing what :meth:`asgi` saw, if anything."""
        if self.mismatches:
            raise SchemaMismatchError("\n".join(self.mismatches))
