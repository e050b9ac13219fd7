"""Query parameters and paging headers shared by the listing endpoints; bad values are 400s."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request
from litestar.exceptions import ClientException, NotFoundException

from kubeward.schemas.traffic import normalise_timestamp


def choice(field: str, value: str | None, allowed: frozenset[str]) -> str | None:
    """``value`` upper-cased when it is one of ``allowed``; ``None`` passes through."""
    if value is None:
        return None
    upper = value.upper()
    if upper not in allowed:
        raise ClientException(
            detail=f"{field}: {value!r} is not one of {', '.join(sorted(allowed))}"
        )
    return upper


def iso_time(field: str, value: str | None) -> str | None:
    """An ISO 8601 time in the stored form (naive UTC, microseconds); ``None`` passes.

    A time whose UTC conversion leaves the representable range (``0001-01-01T00:00+01:00``)
    raises ``OverflowError``, not ``ValueError``: it is a bad value all the same.
    """
    if value is None:
        return None
    try:
        return normalise_timestamp(value)
    except (ValueError, OverflowError):
        raise ClientException(detail=f"{field}: {value!r} is not an ISO 8601 time") from None


NEXT_CURSOR_HEADER = "X-Next-Cursor"


def next_page_headers(request: Request[Any, Any, Any], cursor: str | None) -> dict[str, str]:
    """``X-Next-Cursor`` and ``Link: <...?cursor=...>; rel="next"`` when there is a next page.

    Offset paging (``page``) and keyset paging do not mix, so ``page`` is dropped.
    """
    if cursor is None:
        return {}
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "cursor")}
    params["cursor"] = cursor
    return {
        NEXT_CURSOR_HEADER: cursor,
        # The path is decoded: re-quote it, or a name holding CR/LF breaks the header.
        "Link": f'<{quote(request.url.path)}?{urlencode(params)}>; rel="next"',
    }


def path_id(value: str, not_found: str) -> int:
    """An integer record id from the path. Anything else cannot name a record: 404 with
    ``not_found`` (raised in the handler, so after the auth guard, never before it)."""
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise NotFoundException(detail=not_found)
    return int(value)
