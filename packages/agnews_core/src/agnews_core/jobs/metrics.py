"""Job metrics: one definition of each, registered once per process."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram


class JobMetrics:
    """Finished jobs and their durations, as seen by a worker process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "agnews_jobs_total",
            "Jobs by type and state (queued: created by the gateway; others: finished).",
            ["type", "state"],
            registry=registry,
        )
        self.duration = Histogram(
            "agnews_job_duration_seconds",
            "Run time of finished jobs.",
            ["type", "state"],
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400),
            registry=registry,
        )


_default_metrics: JobMetrics | None = None
_metrics_lock = threading.Lock()


def default_job_metrics() -> JobMetrics:
    """The process-wide JobMetrics on the default Prometheus registry (created on first use)."""
    global _default_metrics
    with _metrics_lock:
        if _default_metrics is None:
            _default_metrics = JobMetrics(REGISTRY)
        return _default_metrics
