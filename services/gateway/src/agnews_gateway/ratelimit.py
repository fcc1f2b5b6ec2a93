"""Per-client fixed-window rate limit in Redis (shared by every gateway replica)."""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int, prefix: str = "agnews:rl") -> None:
        self.client = client
        self.per_minute = per_minute
        self.prefix = prefix

    def hit(self, client_id: str) -> float | None:
        """Count one request; None when allowed, else seconds until the client's window resets.

        Fails open: when Redis is down the request goes through (classification does not need Redis, and
        routes that do answer 503 themselves).
        """
        if self.per_minute <= 0:
            return None
        now = time.time()
        window = int(now // 60)
        key = f"{self.prefix}:{client_id}:{window}"
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 61)
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            log.debug("rate limit skipped, Redis unavailable: %s", exc)
            return None
        if int(count) > self.per_minute:
            return max(1.0, (window + 1) * 60 - now)
        return None
