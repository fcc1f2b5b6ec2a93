"""The reaper: `agnews-reaper`, one small process that keeps jobs moving and storage bounded, unattended.

Every `reaper_interval_s` it looks at the running jobs; one whose lease expired (its worker was killed, its
node preempted, and no redelivery came) is re-queued, and failed with a clear error once it started
`max_attempts` times. A worker renews its lease every third of it, so a lost job is found within about one
lease plus one interval. A job queued for `queued_grace_s` whose message is nowhere in the broker (kombu pops
a message before it records it as unacknowledged: a worker killed in between loses it) is sent again.
Every `retention_interval_s` it deletes what outlived its job (retention.py) and
exports the bytes held per storage area. Run one replica: every step is a compare-and-set in Redis, so two
would only do the same work twice, never harm.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
import time
from typing import Any

from agnews_core.errors import AgnewsError
from agnews_core.jobs import JobStore, JobStoreUnavailableError
from agnews_core.storage import ArtifactStore
from agnews_core.tasks import TASK_QUEUES, unacked_keys
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from agnews_gateway.retention import AREAS, bytes_per_area, sweep
from agnews_gateway.settings import GatewaySettings
from agnews_gateway.task_queue import TaskQueue

log = logging.getLogger(__name__)

_TASK_ID = re.compile(r'"id": "([0-9a-f]{32})"')
_PRIORITY_SEP = "\x06\x16"  # kombu's Redis priority queues: <queue>, <queue>\x06\x163, ...


def broker_job_ids(client: Any) -> set[str]:
    """Ids of every job with a message in the broker: waiting in a queue or held unacknowledged by a worker."""
    found: set[str] = set()
    for queue in set(TASK_QUEUES.values()):
        for key in (queue, *(f"{queue}{_PRIORITY_SEP}{p}" for p in (3, 6, 9))):
            for raw in client.lrange(key, 0, -1):
                found.update(_TASK_ID.findall(raw))
        for raw in client.hvals(unacked_keys(queue)["unacked_key"]):
            found.update(_TASK_ID.findall(raw))
    return found


class ReaperMetrics:
    """The reaper's own metrics, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs = Counter(
            "agnews_reaper_jobs_total",
            "Jobs the reaper acted on: expired lease (requeued, failed), lost message (resent).",
            ["outcome"],
            registry=self.registry,
        )
        self.last_pass = Gauge(
            "agnews_reaper_last_pass_timestamp_seconds",
            "Unix time of the last completed pass.",
            ["pass"],
            registry=self.registry,
        )
        self.errors = Counter("agnews_reaper_errors_total", "Passes that failed.", ["pass"], registry=self.registry)
        self.deleted = Counter(
            "agnews_storage_deleted_total", "Keys deleted by retention, by area.", ["area"], registry=self.registry
        )
        self.bytes = Gauge(
            "agnews_storage_bytes", "Bytes held in the artifact store, by area.", ["area"], registry=self.registry
        )
        for area in AREAS:
            self.bytes.labels(area)
        for outcome in ("requeued", "failed", "resent"):
            self.jobs.labels(outcome)


class Reaper:
    """One reap pass and one retention pass; `run` repeats them until stopped."""

    def __init__(
        self, settings: GatewaySettings, jobs: JobStore, queue: TaskQueue, store: ArtifactStore, metrics: ReaperMetrics
    ) -> None:
        self.settings, self.jobs, self.queue, self.store, self.metrics = settings, jobs, queue, store, metrics

    def reap(self) -> dict[str, int]:
        done = {"requeued": 0, "failed": 0}
        for job_id in self.jobs.running_ids():
            outcome = self.jobs.reap(job_id, self.settings.max_attempts)
            if outcome == "requeued":
                job = self.jobs.get(job_id)
                try:
                    self.queue.send(job.type, job_id)
                except JobStoreUnavailableError:
                    # queued with no message: put it back, so the next pass tries again
                    self.jobs.mark_running(job_id)
                    raise
                log.warning(
                    "job %s lost its worker (lease expired): re-queued (attempt %d next)", job_id, job.attempts + 1
                )
            elif outcome == "failed":
                log.error("job %s lost its worker %d times: failed", job_id, self.settings.max_attempts)
            if outcome in done:
                done[outcome] += 1
                self.metrics.jobs.labels(outcome).inc()
        return done

    def resend_lost(self) -> int:
        stale = self.jobs.queued_since(self.settings.queued_grace_s)
        if not stale:
            return 0
        present = broker_job_ids(self.jobs.client)
        sent = 0
        for job_id in stale:
            if job_id in present:
                continue  # waiting its turn in a long queue, or held by a worker
            self.queue.send(self.jobs.get(job_id).type, job_id)
            self.jobs.touch_queued(job_id)
            self.metrics.jobs.labels("resent").inc()
            log.warning("job %s was queued with no message left in the broker: sent again", job_id)
            sent += 1
        return sent

    def retain(self) -> dict[str, int]:
        deleted = sweep(self.store, self.jobs, failed_run_ttl_s=self.settings.failed_run_ttl_s)
        for area, n in deleted.items():
            self.metrics.deleted.labels(area).inc(n)
        for area, held in bytes_per_area(self.store).items():
            self.metrics.bytes.labels(area).set(held)
        return deleted

    def _guarded(self, name: str, step: Any) -> None:
        try:
            step()
            self.metrics.last_pass.labels(name).set(time.time())
        except (AgnewsError, OSError) as exc:  # Redis or the store blinked: the next pass tries again
            self.metrics.errors.labels(name).inc()
            log.warning("%s pass failed: %s", name, exc)

    def run(self, stop: threading.Event) -> None:
        next_retention = 0.0
        while not stop.is_set():
            self._guarded("reap", self.reap)
            self._guarded("resend", self.resend_lost)
            if time.monotonic() >= next_retention:
                self._guarded("retention", self.retain)
                next_retention = time.monotonic() + self.settings.retention_interval_s
            stop.wait(self.settings.reaper_interval_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agnews-reaper", description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings()
    metrics = ReaperMetrics()
    if settings.reaper_metrics_port:
        start_http_server(settings.reaper_metrics_port, addr=settings.reaper_metrics_host, registry=metrics.registry)
    jobs = JobStore.from_url(settings.redis_url, timeout_s=settings.redis_timeout_s, job_ttl_s=settings.job_ttl_s)
    queue = TaskQueue(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "reaper: leases every %.0fs, retention every %.0fs, metrics on :%d",
        settings.reaper_interval_s,
        settings.retention_interval_s,
        settings.reaper_metrics_port,
    )
    try:
        Reaper(settings, jobs, queue, settings.open_store(), metrics).run(stop)
    finally:
        queue.close()
        jobs.close()


if __name__ == "__main__":
    main()
