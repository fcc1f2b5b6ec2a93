"""The training Celery app: `celery -A agnews_trainer.worker:celery_app worker -Q training -c 1`.

One run at a time, in the worker's own process (solo pool): a SIGTERM reaches the process that trains, which
checkpoints (to the artifact store) and hands the job back, then the worker exits; with a prefork pool the
child would die with the run or be waited on until the grace period ends. Training metrics are served on
TRAINER_METRICS_PORT. Nothing heavy is imported here: torch loads inside the task.
"""

from __future__ import annotations

import logging
from typing import Any

from agnews_core.broker_guard import guard_unacked_restore
from agnews_core.tasks import TRAINING_QUEUE, celery_config
from celery import Celery
from celery.signals import worker_process_init, worker_shutting_down
from prometheus_client import start_http_server
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class TrainingWorkerSettings(BaseSettings):
    """Queue-side knobs of the training worker (TRAINER_*); the pipeline's own are in TrainerSettings."""

    model_config = SettingsConfigDict(env_prefix="TRAINER_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 5.0
    visibility_timeout_s: int = Field(
        6 * 3600, gt=0, description="must exceed the longest training run: Redis redelivers unacked jobs after it"
    )
    result_expires_s: int = 7 * 24 * 3600
    job_lease_s: float = Field(120.0, gt=0, description="a killed worker's job is picked up after this long")
    record_timeout_s: float = Field(600.0, gt=0, description="how long a job's outcome is retried while Redis is down")
    failed_run_ttl_s: int = Field(3 * 24 * 3600, ge=0, description="local folders of unfinished runs kept this long")
    metrics_port: int = 9101
    metrics_host: str = "127.0.0.1"


def create_celery_app(settings: TrainingWorkerSettings | None = None) -> Celery:
    settings = settings or TrainingWorkerSettings()
    guard_unacked_restore()  # a Redis blink must not end the worker (agnews_core.broker_guard)
    app = Celery("agnews_training", include=["agnews_trainer.tasks"])
    app.conf.update(
        celery_config(
            settings.redis_url,
            visibility_timeout_s=settings.visibility_timeout_s,
            result_expires_s=settings.result_expires_s,
            queue=TRAINING_QUEUE,
        )
    )
    # One run at a time: training uses every core, and runs must not starve each other.
    app.conf.update(task_default_queue=TRAINING_QUEUE, worker_concurrency=1, worker_pool="solo")
    app.conf.agnews_settings = settings
    return app


celery_app = create_celery_app()


@worker_shutting_down.connect
def _drain(**_: Any) -> None:
    from agnews_trainer.tasks import request_drain

    log.info("worker stopping: the running training job checkpoints and is handed back")
    request_drain()


@worker_process_init.connect
def _serve_metrics(**_: Any) -> None:
    from agnews_core.jobs import default_job_metrics

    from agnews_trainer.tasks import last_training_metrics

    default_job_metrics()  # registered now, so /metrics lists every family before the first run
    last_training_metrics()
    settings: TrainingWorkerSettings = celery_app.conf.agnews_settings
    if settings.metrics_port:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            log.warning("training metrics not served on :%d: %s", settings.metrics_port, exc)
