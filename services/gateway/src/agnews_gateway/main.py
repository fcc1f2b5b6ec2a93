"""App factory and the `agnews-gateway` command."""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agnews_core.http_metrics import MetricsMiddleware
from agnews_core.jobs import JobStore
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from agnews_gateway import __version__
from agnews_gateway.deps import Resources, rate_limit
from agnews_gateway.errors import install_error_handlers
from agnews_gateway.inference_client import InferenceClient
from agnews_gateway.metrics import GatewayMetrics
from agnews_gateway.monitoring import open_monitoring
from agnews_gateway.ratelimit import RateLimiter
from agnews_gateway.routes import (
    batch_jobs,
    classify,
    feedback,
    health,
    jobs,
    models,
    monitoring,
    shadow,
    training_jobs,
)
from agnews_gateway.settings import GatewaySettings
from agnews_gateway.task_queue import TaskQueue

log = logging.getLogger(__name__)

DESCRIPTION = """
Public REST API of agnews: classify news articles into **World**, **Sports**, **Business** or **Sci/Tech**.

* `POST /v1/classify` answers in milliseconds (proxied to the inference service).
* `POST /v1/batch-jobs` classifies a whole file in the background; poll `GET /v1/jobs/{id}` and download
  `GET /v1/jobs/{id}/result`.
* Admin routes (training jobs, promote, rollback) need `Authorization: Bearer <admin key>`.
"""


class BodySizeLimit:
    """413 before reading a body whose Content-Length is over the limit (uploads have their own, larger one)."""

    def __init__(self, app: Any, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            limit = self.max_upload if scope["path"].endswith("/batch-jobs") else self.max_body
            for name, value in scope.get("headers", ()):
                if name == b"content-length" and value.isdigit() and int(value) > limit:
                    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def open_resources(settings: GatewaySettings, metrics: GatewayMetrics) -> Resources:
    jobs = JobStore.from_url(
        settings.redis_url,
        timeout_s=settings.redis_timeout_s,
        job_ttl_s=settings.job_ttl_s,
        idempotency_ttl_s=settings.idempotency_ttl_s,
    )
    metrics.watch_queues(jobs.client)
    store = settings.open_store()
    return Resources(
        jobs=jobs,
        store=store,
        registry=settings.open_registry(),
        inference=InferenceClient(
            settings.inference_url,
            connect_timeout_s=settings.inference_connect_timeout_s,
            timeout_s=settings.inference_timeout_s,
            retries=settings.inference_retries,
        ),
        queue=TaskQueue(settings),
        limiter=RateLimiter(jobs.client, settings.rate_limit_per_minute),
        metrics=metrics,
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Nothing here connects yet (clients connect lazily), so the gateway starts even while Redis or
        # inference are down and says so on /readyz.
        resources = open_resources(settings, metrics)
        app.state.resources = resources
        app.state.monitoring = open_monitoring(
            settings, resources.jobs.client, resources.store, resources.registry, metrics.registry
        )
        log.info(
            "gateway up: inference %s, redis %s, registry %s",
            settings.inference_url,
            resources.jobs.where,
            resources.store.uri,
        )
        try:
            yield
        finally:
            app.state.monitoring.close()
            await resources.inference.aclose()
            resources.queue.close()
            resources.jobs.close()

    app = FastAPI(title="agnews gateway", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    limited = [Depends(rate_limit)]
    for module in (classify, batch_jobs, training_jobs, jobs, models, feedback, monitoring, shadow):
        app.include_router(module.router, dependencies=limited)
    app.include_router(health.router)
    app.add_middleware(BodySizeLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics.http)
    return app


def main(argv: list[str] | None = None) -> None:
    """`agnews-gateway --host 127.0.0.1 --port 8000`."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="agnews-gateway", description="agnews public REST gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    GatewaySettings()  # fail fast, with the settings' own message, before uvicorn starts
    uvicorn.run(
        "agnews_gateway.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
