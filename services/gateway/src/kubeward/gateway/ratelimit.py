"""A sliding-window rate limit held in Redis, so it holds across gateway replicas."""

from __future__ import annotations

import secrets
import time

from redis.asyncio import Redis

# Atomic check-and-record: a refused attempt is not recorded, so a client that waits the
# Retry-After it was given is let through.
_SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('EXPIRE', key, math.ceil(window) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


class SlidingWindowLimit:
    """At most ``limit`` hits per ``window`` seconds per key."""

    def __init__(self, redis: Redis, name: str, limit: int, window: float) -> None:
        self._script = redis.register_script(_SCRIPT)
        self._prefix = f"kubeward:ratelimit:{name}:"
        self._limit = limit
        self._window = window

    async def hit(self, key: str) -> float | None:
        """Count a hit; ``None`` when allowed, else the seconds until the next one is."""
        member = f"{time.time():.6f}-{secrets.token_hex(4)}"
        wait = float(
            await self._script(
                keys=[self._prefix + key],
                args=[time.time(), self._window, self._limit, member],
            )
        )
        return None if wait <= 0 else max(wait, 0.001)
