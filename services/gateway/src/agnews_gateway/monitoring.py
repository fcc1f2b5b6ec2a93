"""The gateway's side of monitoring: feedback joined to predictions, live accuracy, drift, the feedback log.

Opened in the lifespan on the job store's Redis connection. Live accuracy, feedback counts and drift are
read from Redis when asked (scrape, GET /v1/monitoring), so every gateway replica exports the same figures.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import redis
from agnews_core.drift import SIGNALS
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

from agnews_gateway.drift import DriftReader
from agnews_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

FEEDBACK_PREFIX = "feedback"


@dataclass
class Monitoring:
    feedback: FeedbackStore
    drift: DriftReader
    registry: ModelRegistry
    log: RecordLog[Record]
    shadow_stats: ShadowStats

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

    def summary(self) -> MonitoringSummary:
        store, drift, champion, now = self.feedback, self.drift, self.champion(), time.time()

        # One read of each window: the scores below are of the same counts the summary shows, even while
        # inference's log thread is adding to them.
        windows = {signal: drift.window(champion, signal, now) if champion else Counter() for signal in SIGNALS}

        def live(signal: str) -> dict[str, int]:
            return dict(windows[signal])

        def reference(signal: str) -> dict[str, int] | None:
            return drift.reference(champion, signal) if champion else None

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
            drift_window_s=drift.window_s,
            drift={s: drift.score_of(champion, s, windows[s]) for s in SIGNALS} if champion else dict.fromkeys(SIGNALS),
            label_mix_live={name: live("label_mix").get(name, 0) for name in LABEL_NAMES},
            label_mix_training=reference("label_mix"),
            input_length_live=live("input_length"),
            input_length_training=reference("input_length"),
            unknown_words_live=live("unknown_words"),
            unknown_words_training=reference("unknown_words"),
            history=self._history(champion, now) if champion else [],
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

    def _history(self, version: str, now: float) -> list[HistoryPoint]:
        since = now - max(self.drift.window_s, 6 * 3600)
        mixes = self.drift.history(version, "label_mix", since)
        lengths = self.drift.history(version, "input_length", since)
        unknown = self.drift.history(version, "unknown_words", since)
        feedback = {bucket: (n, correct) for bucket, n, correct in self.feedback.history(version, since)}
        points = []
        for bucket in sorted(set(mixes) | set(feedback)):
            mix, mix_drift = mixes.get(bucket, (Counter(), None))
            n, correct = feedback.get(bucket, (0, 0))
            points.append(
                HistoryPoint(
                    t=datetime.fromtimestamp(bucket, UTC),
                    feedback=n,
                    correct=correct,
                    accuracy=correct / n if n else None,
                    label_mix={name: mix.get(name, 0) for name in LABEL_NAMES},
                    drift_label_mix=mix_drift,
                    drift_input_length=lengths.get(bucket, (Counter(), None))[1],
                    drift_unknown_words=unknown.get(bucket, (Counter(), None))[1],
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
            drift = self.monitoring.drift.scores(champion) if champion else {}
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
        for signal, value in drift.items():
            if value is not None:
                score.add_metric([signal], value)
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
    drift = DriftReader.open(registry, client, settings.drift_window_s)
    monitoring = Monitoring(feedback, drift, registry, log_, shadow_stats)
    metrics.register(MonitoringCollector(monitoring))
    return monitoring


async def get_monitoring(request: Request) -> Monitoring:
    monitoring: Monitoring = request.app.state.monitoring
    return monitoring


MonitoringDep = Annotated[Monitoring, Depends(get_monitoring)]
