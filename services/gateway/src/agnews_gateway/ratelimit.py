"""Per-client token buckets in Redis (shared by every gateway replica), applied before auth and routing.

Who a request counts against: the key's name when it carries a configured key; otherwise its address,
taken from X-Forwarded-For only through `trusted_proxy_hops` proxies we run (the entry that many hops from
the right: everything left of it was written by the client and proves nothing), else the peer address.
A key that is not configured counts as its address, so bogus keys never mint fresh buckets. 404s and
401s count too: the middleware runs before routing and before the key guard.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from agnews_core.auth import KeyRing
from agnews_core.http_edge import send_json_error

from agnews_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# tokens refill at `rate` per second up to `burst`; one request takes one token. Returns the wait in seconds
# (0: allowed). The clock is the caller's (a deterministic script; replicas' clocks agree to well under 1 s).
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes (never public: see nginx.conf)


class TokenBucket:
    def __init__(self, client: aioredis.Redis, prefix: str = "agnews:rl") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    async def take(self, ident: str, per_minute: int, burst: int) -> float | None:
        """None when allowed, else seconds until a token is back. Fails open when Redis is unreachable
        (classification does not need Redis, and the routes that do answer 503 themselves)."""
        try:
            wait = float(await self._take(keys=[f"{self.prefix}:{ident}"], args=[per_minute / 60, burst, time.time()]))
        except redis.RedisError as exc:
            log.debug("rate limit skipped, Redis unavailable: %s", exc)
            return None
        return wait if wait > 0 else None

    async def aclose(self) -> None:
        await self.client.close()


def client_address(headers: dict[bytes, bytes], peer: str, hops: int) -> str:
    """The right-most address no trusted proxy vouches against (see the module docstring)."""
    if hops <= 0:
        return peer
    forwarded = [e.strip() for e in headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",") if e.strip()]
    if not forwarded:
        return peer
    # every trusted proxy appends the address it got the connection from; fewer entries than hops means
    # every entry was written by a proxy of ours
    return forwarded[-hops] if len(forwarded) >= hops else forwarded[0]


def client_identity(scope: dict[str, Any], ring: KeyRing, hops: int) -> tuple[str, str | None]:
    """('key:<name>' or 'ip:<address>', the key's name or None)."""
    headers = dict(scope.get("headers") or ())
    scheme, _, secret = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        key = ring.lookup(secret.strip())
        if key is not None:
            return "key:" + key.name, key.name
    peer = scope["client"][0] if scope.get("client") else "unknown"
    return "ip:" + client_address(headers, peer, hops)[:64], None


class RateLimitMiddleware:
    """429 with Retry-After once a client's bucket is empty; pure ASGI, outermost but for metrics."""

    def __init__(self, app: Any, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        settings = self.settings
        if scope["type"] != "http" or scope["path"] in EXEMPT or settings.rate_limit_per_minute <= 0:
            await self.app(scope, receive, send)
            return
        ident, name = client_identity(scope, settings.key_ring, settings.trusted_proxy_hops)
        per_minute = settings.key_limits.get(name or "", settings.rate_limit_per_minute)
        bucket: TokenBucket = scope["app"].state.resources.limiter
        wait = await bucket.take(ident, per_minute, settings.rate_limit_burst)
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        detail = f"rate limit of {per_minute} requests per minute exceeded; retry in {retry} s"
        await send_json_error(send, 429, detail, [(b"retry-after", str(retry).encode())])
