"""Replies that travel back to the gateway over request/reply or a reply inbox."""

from __future__ import annotations

import msgspec

NULL = msgspec.Raw(b"null")


class Reply(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Outcome of a request: an HTTP-like status, an error detail or a JSON body."""

    status: int = 200
    detail: str | None = None
    body: msgspec.Raw = NULL
    """Raw JSON to hand to the HTTP caller (``null`` when there is none)."""
    count: int | None = None
    """For writes: how many records were genuinely new."""
    cursor: str | None = None
    """For list replies: where the next page starts; absent on the last page."""

    @property
    def ok(self) -> bool:
        """True for 2xx statuses."""
        return 200 <= self.status < 300


def error(status: int, detail: str) -> Reply:
    """Shorthand for an error reply."""
    return Reply(status=status, detail=detail)
