"""Gateway metrics: HTTP (shared middleware), jobs created, and Celery queue backlogs read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

import redis
from agnews_core.http_metrics import HttpMetrics
from agnews_core.tasks import BATCH_QUEUE, TRAINING_QUEUE
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class QueueBacklogCollector(Collector):
    """agnews_queue_backlog{queue}: messages waiting in each Celery queue (a Redis list per queue)."""

    def __init__(self, client: redis.Redis, queues: tuple[str, ...] = (BATCH_QUEUE, TRAINING_QUEUE)) -> None:
        self.client = client
        self.queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("agnews_queue_backlog", "Messages waiting in a Celery queue.", labels=["queue"])
        try:
            pipe = self.client.pipeline(transaction=False)
            for queue in self.queues:
                pipe.llen(queue)
            lengths = pipe.execute()
        except redis.RedisError:
            return  # no sample beats a wrong one; /readyz says Redis is down
        for queue, length in zip(self.queues, lengths, strict=True):
            family.add_metric([queue], float(length))
        yield family


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpMetrics("gateway", self.registry)
        self.jobs_created = Counter(
            "agnews_jobs_total",
            "Jobs by type and state (queued: created by the gateway; others: finished).",
            ["type", "state"],
            registry=self.registry,
        )

    def watch_queues(self, client: redis.Redis) -> None:
        self.registry.register(QueueBacklogCollector(client))
