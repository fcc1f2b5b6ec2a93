"""Inference metrics (docs/CONTRACTS.md), on a per-app registry so several apps can live in one process."""

from __future__ import annotations

from agnews_core.http_metrics import HttpMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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
        self.batch_tokens = Histogram(
            "agnews_inference_batch_tokens",
            "Estimated tokens per forward pass (capped by INFERENCE_TOKEN_BUDGET).",
            buckets=TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("agnews_inference_queue_depth", "Texts waiting for the model.", registry=self.registry)
        self.queue_wait = Histogram(
            "agnews_inference_queue_wait_seconds",
            "Time a request waited in the queue before its forward pass started.",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.shed = Counter(
            "agnews_inference_shed_total",
            "Requests refused by admission control (429), by reason: queue_full, over_capacity.",
            ["reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "agnews_inference_dropped_total",
            "Admitted requests dropped before their forward pass, by reason: deadline (429), client_gone.",
            ["reason"],
            registry=self.registry,
        )
        self.failed_requests = Counter(
            "agnews_inference_failed_requests_total",
            "Requests the model failed on by themselves (422); their batch-mates were answered.",
            registry=self.registry,
        )
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
        self.declare_reasons()

    def set_model(self, version: str, kind: str) -> None:
        """Point agnews_model_info at the model now served (one series only)."""
        self.model_info.clear()
        self.model_info.labels(version, kind).set(1)
        self.ready.set(1)

    def declare_reasons(self) -> None:
        """Create every labelled series at 0, so dashboards and rate() see them before the first event."""
        for reason in ("queue_full", "over_capacity"):
            self.shed.labels(reason)
        for reason in ("deadline", "client_gone"):
            self.dropped.labels(reason)
