"""App factory and the `agnews-gateway` command."""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from agnews_core.http_edge import StreamingBodyLimit, install_error_handlers, serve_bare
from agnews_core.http_metrics import MetricsMiddleware
from agnews_core.jobs import JobStore
from fastapi import FastAPI

from agnews_gateway import __version__
from agnews_gateway.deps import Resources
from agnews_gateway.inference_client import InferenceClient
from agnews_gateway.metrics import GatewayMetrics
from agnews_gateway.monitoring import open_monitoring
from agnews_gateway.ratelimit import RateLimitMiddleware, TokenBucket
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


def body_limit_for(settings: GatewaySettings) -> Callable[[dict[str, Any]], tuple[int, str]]:
    """Uploads get their own, larger limit; every other body the small one."""

    def limit(scope: dict[str, Any]) -> tuple[int, str]:
        if scope["path"] == "/v1/batch-jobs":
            return settings.max_upload_bytes, "GATEWAY_MAX_UPLOAD_BYTES"
        return settings.max_body_bytes, "GATEWAY_MAX_BODY_BYTES"

    return limit


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
        limiter=TokenBucket(
            aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout_s,
                socket_connect_timeout=settings.redis_timeout_s,
            )
        ),
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
            await resources.limiter.aclose()
            resources.queue.close()
            resources.jobs.close()

    app = FastAPI(title="agnews gateway", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    for module in (classify, batch_jobs, training_jobs, jobs, models, feedback, monitoring, shadow, health):
        app.include_router(module.router)
    # the hot path, without dependency solving
    serve_bare(app, classify.router, "/v1/classify", "POST", classify.answer)
    # outermost last: metrics see every answer; the rate limit runs before the body is read, the key
    # guard and routing; the body limit counts bytes as the handler pulls them
    app.add_middleware(StreamingBodyLimit, limit_for=body_limit_for(settings))
    app.add_middleware(RateLimitMiddleware, settings=settings)
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
