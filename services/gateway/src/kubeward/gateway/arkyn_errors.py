"""Error bodies as arkyn's servers answer them (``@arkyn/server``'s ``BadResponse``s).

``{"name": "NotFound", "message": "..."}``; a validation failure is 422
``{"name": "UnprocessableEntity", "message": "Unprocessable entity", "cause": {"data":
{"scrollTo": <first field>}, "fieldErrors": {field: message}, "fields": <the input>}}``.
Every body also carries Kubeward's ``detail``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Response

from kubeward.schemas.replies import Reply

NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "BadRequest",
    422: "UnprocessableEntity",
    501: "NotImplemented",
    502: "BadGateway",
}
_PREFIX = re.compile(r"^Invalid [^:]+: ")
_AT = re.compile(r"^(?P<msg>.*) - at `\$?\.?(?P<path>[^`]*)`$")
_FIELD = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*): (?P<msg>.+)$")


def field_errors(detail: str) -> dict[str, str]:
    """``{field: message}`` from a Kubeward validation detail (``field: problem; ...``)."""
    errors: dict[str, str] = {}
    for piece in _PREFIX.sub("", detail).split("; "):
        at = _AT.match(piece)
        named = _FIELD.match(piece)
        if at is not None:
            errors.setdefault(at["path"] or "body", at["msg"])
        elif named is not None:
            errors.setdefault(named["path"], named["msg"])
        else:
            errors.setdefault("body", piece)
    return errors


def _fields(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def arkyn_error(status: int, detail: str) -> Response[Any]:
    """A non-validation error as arkyn's ``BadResponse`` body."""
    name = NAMES.get(status, "ServerError")
    return Response({"name": name, "message": detail, "detail": detail}, status_code=status)


def arkyn_invalid(detail: str, body: bytes = b"") -> Response[Any]:
    """422 ``UnprocessableEntity`` naming every invalid field."""
    errors = field_errors(detail)
    content = {
        "name": "UnprocessableEntity",
        "message": "Unprocessable entity",
        "cause": {
            "data": {"scrollTo": next(iter(errors), "body")},
            "fieldErrors": errors,
            "fields": _fields(body),
        },
        "detail": detail,
    }
    return Response(content, status_code=422)


def arkyn_reply(reply: Reply, body: bytes = b"", status: int | None = None) -> Response[Any]:
    """A service's :class:`Reply` as arkyn answers: its JSON on success (``status``
    overriding the reply's), a 400 from validation as 422, other errors by name."""
    if reply.ok:
        return Response(
            content=bytes(reply.body),
            status_code=status or reply.status,
            media_type="application/json",
        )
    detail = reply.detail or "Request failed"
    if reply.status == 400:
        return arkyn_invalid(detail, body)
    return arkyn_error(reply.status, detail)
