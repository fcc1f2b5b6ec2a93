"""The gateway's side of monitoring: feedback joined to predictions, live accuracy, drift, the feedback log.

Opened in the lifespan on the job store's Redis connection. Live accuracy, feedback counts and drift are
read from Redis when asked (scrape, GET /v1/monitoring), so every gateway replica exports the same figures.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import redis
from agnews_core.drift import LabelMix, js_divergence
from agnews_core.errors import AgnewsError
from agnews_core.feedback import FeedbackOutcome, FeedbackStore, PredictionIndex
from agnews_core.labels import LABEL_NAMES
from agnews_core.recordlog import Record, RecordLog, utc_now_iso
from agnews_core.registry import ModelRegistry
from agnews_core.schemas import FeedbackCount, HistoryPoint, LiveAccuracy, MonitoringSummary, ShadowView
from agnews_core.shadow import ShadowStats, read_shadow
from agnews_core.storage import ArtifactStore
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agnews_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

FEEDBACK_PREFIX = "feedback"


@dataclass
class Monitoring:
    feedback: FeedbackStore
    mix: LabelMix
    registry: ModelRegistry
    log: RecordLog[Record]
    drift_window_s: float
    shadow_stats: ShadowStats
    _training_mix: dict[str, dict[str, int] | None] = field(default_factory=dict)

    def record_feedback(self, prediction_id: str, label: str) -> FeedbackOutcome:
        outcome = self.feedback.record(prediction_id, label)
        self.log.put(
            {
                "prediction_id": outcome.prediction_id,
                "time": utc_now_iso(),
                "model_version": outcome.model_version,
                "predicted": outcome.predicted,
                "label": outcome.label,
                "correct": outcome.correct,
            }
        )
        return outcome

    def champion(self) -> str | None:
        alias = self.registry.champion()
        return alias.version if alias else None

    def training_mix(self, version: str) -> dict[str, int] | None:
        """Class counts of the version's training split, from its data card (versions are immutable: cached)."""
        if version not in self._training_mix:
            try:
                card = json.loads(self.registry.read_file(version, "data_card.json"))
                counts = card["per_class"]["train"]
                self._training_mix[version] = {name: int(counts.get(name, 0)) for name in LABEL_NAMES}
            except (AgnewsError, ValueError, KeyError, TypeError) as exc:
                log.info("no training label mix for %s (%s): no drift score for it", version, exc)
                self._training_mix[version] = None
        return self._training_mix[version]

    def label_mix_drift(self, version: str) -> float | None:
        training = self.training_mix(version)
        live = self.mix.window(version, self.drift_window_s)
        if training is None or not live:
            return None
        return js_divergence(live, training)

    def summary(self) -> MonitoringSummary:
        store, champion, now = self.feedback, self.champion(), time.time()
        training = self.training_mix(champion) if champion else None
        live: Counter[str] = self.mix.window(champion, self.drift_window_s, now) if champion else Counter()
        return MonitoringSummary(
            champion=champion,
            window_s=store.window_s,
            live_accuracy=[
                LiveAccuracy(model_version=w.model_version, n=w.n, correct=w.correct, accuracy=w.accuracy)
                for w in store.windows()
            ],
            feedback_total=[
                FeedbackCount(model_version=version, correct=correct, n=n)
                for (version, correct), n in sorted(store.totals().items())
            ],
            drift_window_s=self.drift_window_s,
            drift={"label_mix": js_divergence(live, training) if training and live else None},
            label_mix_live={name: live.get(name, 0) for name in LABEL_NAMES},
            label_mix_training=training,
            history=self._history(champion, training, now) if champion else [],
            shadow=self.shadow_view(champion),
        )

    def shadow_view(self, champion: str | None) -> ShadowView | None:
        config = read_shadow(self.registry.store)
        if config is None:
            return None
        scored, agreeing = self.shadow_stats.agreement(champion, config.version) if champion else (0, 0)
        return ShadowView(
            version=config.version,
            share=config.share,
            updated_at=config.updated_at,
            scored=scored,
            agreement=agreeing / scored if scored else None,
        )

    def _history(self, version: str, training: dict[str, int] | None, now: float) -> list[HistoryPoint]:
        since = now - max(self.drift_window_s, 6 * 3600)
        mixes = self.mix.buckets(version, since)
        feedback = {bucket: (n, correct) for bucket, n, correct in self.feedback.history(version, since)}
        points = []
        for bucket in sorted(set(mixes) | set(feedback)):
            mix = mixes.get(bucket, Counter())
            n, correct = feedback.get(bucket, (0, 0))
            points.append(
                HistoryPoint(
                    t=datetime.fromtimestamp(bucket, UTC),
                    feedback=n,
                    correct=correct,
                    accuracy=correct / n if n else None,
                    label_mix={name: mix.get(name, 0) for name in LABEL_NAMES},
                    drift_label_mix=js_divergence(mix, training) if training and mix else None,
                )
            )
        return points

    def close(self) -> None:
        self.log.close()


class MonitoringCollector(Collector):
    """agnews_live_accuracy / agnews_live_feedback {model_version}, agnews_feedback_total, agnews_drift_score."""

    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring

    def collect(self) -> Iterator[Metric]:
        store = self.monitoring.feedback
        try:
            windows, totals = store.windows(), store.totals()
            champion = self.monitoring.champion()
            drift = self.monitoring.label_mix_drift(champion) if champion else None
        except (redis.RedisError, AgnewsError):
            return  # no sample beats a wrong one; /readyz says what is down
        accuracy = GaugeMetricFamily(
            "agnews_live_accuracy", "Share of correct predictions in the feedback window.", labels=["model_version"]
        )
        count = GaugeMetricFamily(
            "agnews_live_feedback", "Feedback records in the window, per model version.", labels=["model_version"]
        )
        for w in windows:
            count.add_metric([w.model_version], float(w.n))
            if w.accuracy is not None:
                accuracy.add_metric([w.model_version], w.accuracy)
        total = CounterMetricFamily(
            "agnews_feedback", "Feedback received (a replaced one counts again).", labels=["model_version", "correct"]
        )
        for (version, correct), n in sorted(totals.items()):
            total.add_metric([version, "true" if correct else "false"], float(n))
        score = GaugeMetricFamily(
            "agnews_drift_score",
            "Divergence of the champion's recent traffic from its training data (0 same, 1 disjoint).",
            labels=["signal"],
        )
        if drift is not None:
            score.add_metric(["label_mix"], drift)
        yield from (accuracy, count, total, score)


def open_monitoring(
    settings: GatewaySettings,
    client: redis.Redis,
    store: ArtifactStore,
    registry: ModelRegistry,
    metrics: CollectorRegistry,
) -> Monitoring:
    shadow_stats = ShadowStats(client)
    feedback = FeedbackStore(
        client,
        PredictionIndex(client),
        window_s=settings.feedback_window_s,
        window_max=settings.feedback_window_max,
        shadow_lookup=shadow_stats.shadow_label,
    )
    log_: RecordLog[Record] = RecordLog(
        store, FEEDBACK_PREFIX, lambda record: [record], flush_interval_s=settings.feedback_log_flush_s
    )
    log_.start()
    monitoring = Monitoring(feedback, LabelMix(client), registry, log_, settings.drift_window_s, shadow_stats)
    metrics.register(MonitoringCollector(monitoring))
    return monitoring


def get_monitoring(request: Request) -> Monitoring:
    monitoring: Monitoring = request.app.state.monitoring
    return monitoring


MonitoringDep = Annotated[Monitoring, Depends(get_monitoring)]
