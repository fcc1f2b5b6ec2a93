"""HTTP clients for the inference service: async (gateway requests) and sync (batch worker).

Retries happen only when no request reached the server (connection refused, connect timeout, a pooled
keep-alive connection the server had just closed): classification is a pure function, so a retry can never
do anything twice, but a slow answer is not retried (that would only add load to a busy server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from agnews_core.errors import NotReadyError, PromotionRefusedError

from agnews_gateway.errors import UpstreamError

log = logging.getLogger(__name__)

RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


def _timeout(connect_s: float, total_s: float) -> httpx.Timeout:
    return httpx.Timeout(total_s, connect=connect_s)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else str(detail or body)


def _unavailable(url: str, exc: Exception) -> NotReadyError:
    return NotReadyError(f"inference service unavailable at {url}: {type(exc).__name__}: {exc or 'no answer'}")


def _raise_for(response: httpx.Response, url: str) -> None:
    if response.status_code < 400:
        return
    detail = _detail(response)
    if response.status_code >= 500:
        # 503 while loading, 500 on a bug: the caller sees a 503 naming inference, not a bare 500.
        raise NotReadyError(f"inference service at {url} answered {response.status_code}: {detail}")
    headers = {"Retry-After": response.headers["Retry-After"]} if "Retry-After" in response.headers else {}
    raise UpstreamError(response.status_code, detail, headers)


class InferenceClient:
    """Pooled async client; one per gateway process, opened in the lifespan."""

    def __init__(self, base_url: str, *, connect_timeout_s: float, timeout_s: float, retries: int) -> None:
        self.base_url = base_url
        self.retries = retries
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=_timeout(connect_timeout_s, timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=64, keepalive_expiry=4.0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                return await self._client.request(method, path, **kwargs)
            except RETRYABLE as exc:
                if attempt == self.retries:
                    raise _unavailable(self.base_url, exc) from None
                await asyncio.sleep(0.05 * (attempt + 1))
            except httpx.HTTPError as exc:
                raise _unavailable(self.base_url, exc) from None
        raise AssertionError("unreachable")

    async def classify(self, body: bytes) -> bytes:
        """POST the (validated) request body; the raw JSON answer, or an error to pass on."""
        response = await self.request(
            "POST", "/v1/classify", content=body, headers={"content-type": "application/json"}
        )
        _raise_for(response, self.base_url)
        return response.content

    async def ready(self) -> str | None:
        """None when inference is ready, else why not."""
        try:
            response = await self._client.get("/readyz", timeout=2.0)
        except httpx.HTTPError as exc:
            return f"inference unreachable at {self.base_url} ({type(exc).__name__})"
        if response.status_code != 200:
            return f"inference not ready: {_detail(response)}"
        return None

    async def reload(self, admin_key: str) -> None:
        """Ask inference to follow the champion alias now (best effort: it also polls)."""
        try:
            response = await self._client.post(
                "/v1/reload", headers={"Authorization": f"Bearer {admin_key}"}, timeout=60.0
            )
            if response.status_code >= 400:
                log.warning("inference reload answered %s: %s", response.status_code, _detail(response))
        except httpx.HTTPError as exc:
            log.warning("inference reload failed: %s", exc)

    async def check_model(self, version: str, admin_key: str, timeout_s: float) -> None:
        """Ask inference to load and run `version` without serving it; PromotionRefusedError when it cannot."""
        url = f"{self.base_url}/v1/models/{version}/check"
        try:
            response = await self._client.post(
                f"/v1/models/{version}/check", headers={"Authorization": f"Bearer {admin_key}"}, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise NotReadyError(
                f"cannot check that {version} loads: {_unavailable(url, exc)}; the champion is unchanged"
            ) from None
        if response.status_code in (409, 422):
            raise PromotionRefusedError(f"refused: {_detail(response)}; the champion is unchanged")
        _raise_for(response, url)


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
