"""Inference's monitoring pieces, opened and closed together by the lifespan: the prediction log (with the
feedback index and label-mix counts in Redis) and the shadow scorer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import redis
from agnews_core.shadow import ShadowStats
from prometheus_client import CollectorRegistry

from agnews_inference.model_server import ModelServer
from agnews_inference.prediction_log import PredictionLog, open_prediction_log
from agnews_inference.settings import InferenceSettings
from agnews_inference.shadow import ShadowScorer, open_shadow


@dataclass
class InferenceMonitoring:
    prediction_log: PredictionLog
    shadow: ShadowScorer
    poll_interval_s: float
    _follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.prediction_log.start()
        self.shadow.start()
        self._follower = asyncio.create_task(self.shadow.follow(self.poll_interval_s), name="follow-shadow")

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await asyncio.to_thread(self.shadow.stop)
        await asyncio.to_thread(self.prediction_log.close)


def open_monitoring(
    settings: InferenceSettings,
    server: ModelServer,
    registry: CollectorRegistry,
    champion_idle: Callable[[], bool] | None = None,
) -> InferenceMonitoring:
    client = None
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    prediction_log = open_prediction_log(settings, registry, client)
    stats = ShadowStats(client, settings.prediction_index_ttl_s) if client is not None else None
    shadow = open_shadow(server, stats, registry, champion_idle)
    prediction_log.shadow = shadow.offer
    return InferenceMonitoring(prediction_log, shadow, settings.poll_interval_s)
