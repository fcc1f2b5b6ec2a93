"""Prometheus request metrics for any ASGI app (gateway and inference share them).

Routes are labelled by their template (/v1/jobs/{job_id}), never the raw path, and methods outside the
standard set as "other", so label cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counter and latency histogram, registered on a given registry."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.registry = registry
        self.requests = Counter(
            "agnews_http_requests_total",
            "HTTP requests handled, by route template and status.",
            ["service", "route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "agnews_http_request_duration_seconds",
            "HTTP request latency, by route template.",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        # labels() takes the metric's lock and builds its key on every call: a measurable share of a cheap
        # request (a 429) on a busy 2-core box. Children are cached per label set (bounded: templates x
        # methods x statuses).
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        counted = self._counted.get((route, method, status))
        if counted is None:
            counted = self._counted[(route, method, status)] = self.requests.labels(
                self.service, route, method, str(status)
            )
        timed = self._timed.get((route, method))
        if timed is None:
            timed = self._timed[(route, method)] = self.latency.labels(self.service, route, method)
        counted.inc()
        timed.observe(seconds)


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming responses)."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.observe(
                template, method if method in METHODS else "other", status, time.perf_counter() - start
            )


def metrics_response_body(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Body and content type of a /metrics response."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
