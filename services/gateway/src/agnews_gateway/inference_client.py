"""HTTP clients for the inference service: async (gateway requests) and sync (batch worker).

Retries happen only when no request reached the server (connection refused, connect timeout, a pooled
keep-alive connection the server had just closed): classification is a pure function, so a retry can never
do anything twice, but a slow answer is not retried (that would only add load to a busy server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from agnews_core.errors import NotReadyError, PromotionRefusedError

from agnews_gateway.errors import UpstreamError

log = logging.getLogger(__name__)

RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
# Nothing reached the server: refused or timed out connecting, or a pooled keep-alive connection it had closed.
RETRYABLE_AIOHTTP = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ConnectionTimeoutError)


def _timeout(connect_s: float, total_s: float) -> httpx.Timeout:
    return httpx.Timeout(total_s, connect=connect_s)


def _detail_of(content: bytes, reason: str) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        return content.decode(errors="replace")[:500] or reason
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else str(detail or body)


def _unavailable(url: str, exc: Exception) -> NotReadyError:
    return NotReadyError(f"inference service unavailable at {url}: {type(exc).__name__}: {exc or 'no answer'}")


def _raise_for(response: httpx.Response, url: str) -> None:
    _raise_for_status(response.status_code, response.headers, response.content, url)


def _raise_for_status(status: int, headers: Mapping[str, str], content: bytes, url: str) -> None:
    if status < 400:
        return
    detail = _detail_of(content, "")
    if status >= 500:
        # 503 while loading, 500 on a bug: the caller sees a 503 naming inference, not a bare 500.
        raise NotReadyError(f"inference service at {url} answered {status}: {detail}")
    retry = {"Retry-After": headers["Retry-After"]} if "Retry-After" in headers else {}
    raise UpstreamError(status, detail, retry)


class InferenceClient:
    """Pooled async client; one per gateway process, opened in the lifespan.

    aiohttp, not httpx, on this hot path: measured with bench/bench_gateway_overhead.py, one POST to a server
    answering fixed bytes costs httpx's AsyncClient several milliseconds of client CPU on a 2-core box and
    aiohttp about 0.3 ms (C parser, less machinery per request): most of the gateway's added latency.
    """

    def __init__(self, base_url: str, *, connect_timeout_s: float, timeout_s: float, retries: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the running loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=4.0)
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, path: str, *, timeout_s: float | None = None, **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); retried only when no request reached the server."""
        url = self.base_url + path
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None
        for attempt in range(self.retries + 1):
            try:
                async with self._client().request(method, url, timeout=timeout, **kwargs) as response:
                    return response.status, dict(response.headers), await response.read()
            except RETRYABLE_AIOHTTP as exc:
                if attempt == self.retries:
                    raise _unavailable(self.base_url, exc) from None
                await asyncio.sleep(0.05 * (attempt + 1))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _unavailable(self.base_url, exc) from None
        raise AssertionError("unreachable")

    async def classify(self, body: bytes) -> bytes:
        """POST the (validated) request body; the raw JSON answer, or an error to pass on."""
        status, headers, content = await self.request(
            "POST", "/v1/classify", data=body, headers={"Content-Type": "application/json"}
        )
        _raise_for_status(status, headers, content, self.base_url)
        return content

    async def ready(self) -> str | None:
        """None when inference is ready, else why not."""
        try:
            async with self._client().get(self.base_url + "/readyz", timeout=aiohttp.ClientTimeout(total=2.0)) as r:
                status, content = r.status, await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"inference unreachable at {self.base_url} ({type(exc).__name__})"
        if status != 200:
            return f"inference not ready: {_detail_of(content, '')}"
        return None

    async def reload(self, admin_key: str) -> None:
        """Ask inference to follow the champion alias now (best effort: it also polls)."""
        try:
            status, _, content = await self.request(
                "POST", "/v1/reload", headers={"Authorization": f"Bearer {admin_key}"}, timeout_s=60.0
            )
            if status >= 400:
                log.warning("inference reload answered %s: %s", status, _detail_of(content, ""))
        except NotReadyError as exc:
            log.warning("inference reload failed: %s", exc)

    async def check_model(self, version: str, admin_key: str, timeout_s: float) -> None:
        """Ask inference to load and run `version` without serving it; PromotionRefusedError when it cannot."""
        try:
            status, headers, content = await self.request(
                "POST",
                f"/v1/models/{version}/check",
                headers={"Authorization": f"Bearer {admin_key}"},
                timeout_s=timeout_s,
            )
        except NotReadyError as exc:
            raise NotReadyError(f"cannot check that {version} loads: {exc}; the champion is unchanged") from None
        if status in (409, 422):
            raise PromotionRefusedError(f"refused: {_detail_of(content, '')}; the champion is unchanged")
        _raise_for_status(status, headers, content, self.base_url)


class SyncInferenceClient:
    """The batch worker's client: also waits out 429/503 (a busy or reloading server) a few times."""

    def __init__(self, base_url: str, *, connect_timeout_s: float, timeout_s: float, retries: int) -> None:
        self.base_url = base_url
        self.retries = retries
        self._client = httpx.Client(base_url=base_url, timeout=_timeout(connect_timeout_s, timeout_s))

    def close(self) -> None:
        self._client.close()

    def classify_articles(self, articles: list[dict[str, str]], busy_retries: int = 30) -> dict[str, Any]:
        failures = 0
        while True:
            try:
                response = self._client.post("/v1/classify", json={"articles": articles})
            except RETRYABLE as exc:
                failures += 1
                if failures > max(self.retries, 5):
                    raise _unavailable(self.base_url, exc) from None
                time.sleep(min(5.0, 0.2 * 2**failures))
                continue
            if response.status_code in (429, 503) and failures < busy_retries:
                failures += 1
                time.sleep(min(5.0, float(response.headers.get("Retry-After", 0.5) or 0.5)))
                continue
            _raise_for(response, self.base_url)
            result: dict[str, Any] = response.json()
            return result
