"""Request bodies the gateway declares in its OpenAPI document without parsing them.

The collector routes (kguardian's, arkyn's, the Kure agent's and scanner's) forward the
body's bytes to ingest, which validates them with each client's quirks (and the agent's
reports are not decoded twice), so their handlers read ``request.body()`` and Litestar
cannot see a body type. Litestar documents a request body from a ``data`` parameter, the
handler's or a dependency's, and parses it only for a dependency the handler asks for:
:func:`documented` gives a route such a dependency that nothing asks for, so the document
shows the body's schema and the bytes still reach the handler untouched. The fuzz test
generates bodies from these schemas.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.di import Provide
from litestar.params import Body

DEPENDENCY = "documented_body"
"""The name of the dependency :func:`documented` adds (never resolved)."""


def documented(kind: Any, media_type: str | None = None) -> dict[str, Provide]:
    """``dependencies=`` of a route that reads its raw body, documenting it as a ``kind``
    (JSON unless ``media_type`` says otherwise)."""

    async def describe(data: Any) -> None:
        raise AssertionError("documents a request body; no handler asks for it")

    body = kind if media_type is None else Annotated[kind, Body(media_type=media_type)]
    describe.__annotations__ = {"data": body, "return": None}
    return {DEPENDENCY: Provide(describe)}
