"""Dependency aliases: handlers get settings, the model server and the batcher from here, never build them.

Every one is `async def`: FastAPI runs a plain `def` dependency in its thread pool (a thread hop each, four
on every classify), and none of these blocks.
"""

from __future__ import annotations

from typing import Annotated

from agnews_core.auth import KeyRing
from agnews_core.http_edge import BearerDep
from agnews_core.http_edge import require_admin as _require_admin
from fastapi import Depends, Request

from agnews_inference.batcher import MicroBatcher
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.model_server import ModelServer
from agnews_inference.prediction_log import PredictionLog
from agnews_inference.settings import InferenceSettings


async def get_settings(request: Request) -> InferenceSettings:
    settings: InferenceSettings = request.app.state.settings
    return settings


async def get_model_server(request: Request) -> ModelServer:
    server: ModelServer = request.app.state.model_server
    return server


async def get_batcher(request: Request) -> MicroBatcher:
    batcher: MicroBatcher = request.app.state.batcher
    return batcher


async def get_metrics(request: Request) -> InferenceMetrics:
    metrics: InferenceMetrics = request.app.state.metrics
    return metrics


async def get_prediction_log(request: Request) -> PredictionLog:
    log: PredictionLog = request.app.state.prediction_log
    return log


SettingsDep = Annotated[InferenceSettings, Depends(get_settings)]
ModelServerDep = Annotated[ModelServer, Depends(get_model_server)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
MetricsDep = Annotated[InferenceMetrics, Depends(get_metrics)]
PredictionLogDep = Annotated[PredictionLog, Depends(get_prediction_log)]


async def get_key_ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


async def require_admin(ring: Annotated[KeyRing, Depends(get_key_ring)], creds: BearerDep) -> None:
    """401 without a Bearer key, 403 with a wrong one (or when no admin key is configured: INFERENCE_ADMIN_KEYS)."""
    _require_admin(ring, creds)


AdminDep = Annotated[None, Depends(require_admin)]
