"""Server-side sessions in Redis behind a signed ``kure_session`` cookie.

The cookie holds only a random session id and its HMAC (``SESSION_SECRET``); the session
itself lives in Redis, so every gateway replica sees it and logout or a password change
ends it everywhere at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec
from redis.asyncio import Redis

SESSION_COOKIE = "kure_session"
_PREFIX = "kubeward:session:"
_USER_PREFIX = "kubeward:user-sessions:"


class Session(msgspec.Struct, kw_only=True):
    """What a session knows about its user."""

    sid: str
    username: str
    role: str


class SessionStore:
    """Create, resolve and revoke sessions."""

    def __init__(self, redis: Redis, secret: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._key = hashlib.sha256(("kubeward-session:" + secret).encode()).digest()
        self._ttl = ttl_seconds

    def _sign(self, sid: str) -> str:
        mac = hmac.new(self._key, sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")

    def _sid(self, cookie: str) -> str | None:
        sid, _, signature = cookie.partition(".")
        if not sid or not hmac.compare_digest(signature.encode(), self._sign(sid).encode()):
            return None
        return sid

    async def create(self, username: str, role: str) -> str:
        """A new session; returns the cookie value."""
        sid = secrets.token_urlsafe(24)
        session = Session(sid=sid, username=username, role=role)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_PREFIX + sid, msgspec.json.encode(session), ex=self._ttl)
            pipe.sadd(_USER_PREFIX + username, sid)
            pipe.expire(_USER_PREFIX + username, self._ttl)
            await pipe.execute()
        return f"{sid}.{self._sign(sid)}"

    async def resolve(self, cookie: str) -> Session | None:
        """The live session a cookie names, or ``None`` (forged, expired or revoked)."""
        sid = self._sid(cookie)
        if sid is None:
            return None
        raw = await self._redis.get(_PREFIX + sid)
        return None if raw is None else msgspec.json.decode(raw, type=Session)

    async def revoke(self, cookie: str) -> None:
        """End one session (logout)."""
        sid = self._sid(cookie)
        if sid is None:
            return
        raw = await self._redis.get(_PREFIX + sid)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_PREFIX + sid)
            if raw is not None:
                pipe.srem(_USER_PREFIX + msgspec.json.decode(raw, type=Session).username, sid)
            await pipe.execute()

    async def revoke_user(self, username: str) -> int:
        """End every session of ``username`` (password or role change, deletion)."""
        sids = await self._redis.smembers(_USER_PREFIX + username)
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid in sids:
                pipe.delete(_PREFIX + (sid.decode() if isinstance(sid, bytes) else sid))
            pipe.delete(_USER_PREFIX + username)
            await pipe.execute()
        return len(sids)
