"""The batch Celery app: `celery -A agnews_gateway.worker:celery_app worker -Q batch -c 2`.

Batch work waits on HTTP, so the pool is threads (one process): its job metrics are served on
GATEWAY_WORKER_METRICS_PORT from that process.
"""

from __future__ import annotations

import logging
from typing import Any

from agnews_core.broker_guard import guard_unacked_restore
from agnews_core.jobs import JobStore, default_job_metrics, deliver, run_job
from agnews_core.tasks import BATCH_CLASSIFY_TASK, BATCH_QUEUE, celery_config
from celery import Celery, Task
from celery.signals import worker_ready
from prometheus_client import start_http_server

from agnews_gateway.batch import run_batch
from agnews_gateway.inference_client import SyncInferenceClient
from agnews_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def create_celery_app(settings: GatewaySettings | None = None) -> Celery:
    settings = settings or GatewaySettings()
    guard_unacked_restore()  # a Redis blink must not end the worker (agnews_core.broker_guard)
    app = Celery("agnews_batch")
    app.conf.update(
        celery_config(
            settings.redis_url,
            visibility_timeout_s=settings.visibility_timeout_s,
            result_expires_s=settings.result_expires_s,
            queue=BATCH_QUEUE,
        )
    )
    app.conf.update(worker_pool="threads", task_default_queue=BATCH_QUEUE)
    app.conf.agnews_settings = settings
    return app


celery_app = create_celery_app()


def classify_job(job_id: str, settings: GatewaySettings) -> str:
    """Run one batch job (plain function: the task below only decodes and retries)."""
    jobs = JobStore.from_url(settings.redis_url, timeout_s=settings.redis_timeout_s, job_ttl_s=settings.job_ttl_s)
    client = SyncInferenceClient(
        settings.inference_url,
        connect_timeout_s=settings.inference_connect_timeout_s,
        timeout_s=settings.inference_timeout_s,
        retries=settings.inference_retries,
    )
    store = settings.open_store()
    try:
        return run_job(
            jobs,
            job_id,
            lambda ctx: run_batch(
                ctx,
                store,
                client,
                chunk_size=settings.batch_chunk_size,
                max_articles=settings.max_batch_articles,
                pause_s=settings.batch_chunk_pause_s,
            ),
            lease_s=settings.job_lease_s,
            metrics=default_job_metrics(),
            record_timeout_s=settings.record_timeout_s,
        )
    finally:
        client.close()
        jobs.close()


@celery_app.task(name=BATCH_CLASSIFY_TASK, bind=True, max_retries=None)
def classify_batch(self: Task, job_id: str) -> str:
    settings: GatewaySettings = self.app.conf.agnews_settings
    return deliver(self, lambda: classify_job(job_id, settings), lease_s=settings.job_lease_s)


@worker_ready.connect
def _serve_metrics(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None or app.main != "agnews_batch":
        return
    default_job_metrics()  # registered now, so /metrics lists the job families before the first job
    port = app.conf.agnews_settings.worker_metrics_port
    if port:
        try:
            start_http_server(port, addr=app.conf.agnews_settings.worker_metrics_host)
            log.info("batch worker metrics on :%d/metrics", port)
        except OSError as exc:
            log.warning("batch worker metrics not served on :%d: %s", port, exc)
