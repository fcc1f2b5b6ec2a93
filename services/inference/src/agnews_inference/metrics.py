"""Inference metrics (docs/CONTRACTS.md), on a per-app registry so several apps can live in one process."""

from __future__ import annotations

from agnews_core.http_metrics import HttpMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class InferenceMetrics:
    """HTTP metrics plus the model server's own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.http = HttpMetrics("inference", self.registry)
        self.batch_size = Histogram(
            "agnews_inference_batch_size",
            "Texts per forward pass of the micro-batcher.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("agnews_inference_queue_depth", "Texts waiting for the model.", registry=self.registry)
        self.ready = Gauge("agnews_inference_ready", "1 once a model is loaded and warmed up.", registry=self.registry)
        self.cache_bytes = Gauge(
            "agnews_inference_cache_bytes",
            "Bytes in the local model cache (served version and the previous one).",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "agnews_model_info",
            "The model being served (value is always 1).",
            ["version", "kind"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "agnews_predictions_total", "Predictions served, by predicted label.", ["label"], registry=self.registry
        )

    def set_model(self, version: str, kind: str) -> None:
        """Point agnews_model_info at the model now served (one series only)."""
        self.model_info.clear()
        self.model_info.labels(version, kind).set(1)
        self.ready.set(1)
