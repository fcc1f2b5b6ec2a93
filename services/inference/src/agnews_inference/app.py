"""App factory: `create_app(settings)`; the model loads in the lifespan, in the background, so probes answer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agnews_core.auth import KeyRing, parse_keys
from agnews_core.http_edge import StreamingBodyLimit, serve_bare
from agnews_core.http_metrics import MetricsMiddleware
from fastapi import FastAPI

from agnews_inference.admission import AdmissionGate
from agnews_inference.batcher import MicroBatcher
from agnews_inference.errors import install_error_handlers
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.model_server import ModelServer
from agnews_inference.monitoring import open_monitoring
from agnews_inference.routes import classify, health, metrics, models
from agnews_inference.settings import InferenceSettings


def create_app(settings: InferenceSettings | None = None) -> FastAPI:
    """A model server app. Nothing heavy happens until the lifespan starts."""
    settings = settings or InferenceSettings()
    # Tokenizers would start their own thread pool per batch and fight the model for the same cores.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app_metrics = InferenceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server = ModelServer(settings, app_metrics)
        batcher = MicroBatcher(lambda: server.current, app_metrics, settings.batch_policy(), workers=settings.workers)
        monitoring = open_monitoring(settings, server, app_metrics.registry, lambda: batcher.idle)
        app.state.model_server, app.state.batcher = server, batcher
        app.state.prediction_log = monitoring.prediction_log
        batcher.start()
        monitoring.start()
        follower = asyncio.create_task(server.follow(), name="follow-champion")
        try:
            yield
        finally:
            await server.close(follower)
            await asyncio.to_thread(batcher.stop)
            await monitoring.close()

    app = FastAPI(
        title="agnews inference",
        summary="AG News topic classifier: the registry's champion, micro-batched",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.key_ring = KeyRing(parse_keys(",".join(settings.admin_keys), "admin", "INFERENCE_ADMIN_KEYS"))
    for router in (health.router, classify.router, models.router, metrics.router):
        app.include_router(router)
    # the hot path, without dependency solving
    serve_bare(app, classify.router, "/v1/classify", "POST", classify.answer)
    install_error_handlers(app)
    app.add_middleware(
        StreamingBodyLimit, limit_for=lambda _scope: (settings.max_body_bytes, "INFERENCE_MAX_BODY_BYTES")
    )
    app.add_middleware(AdmissionGate)  # past capacity, classify is refused before its body is read
    app.add_middleware(MetricsMiddleware, metrics=app_metrics.http)  # outermost: 413s and 429s are counted too
    return app
