"""The training task: decode the job, run the pipeline, record the outcome. Thin on purpose.

Redelivery-safe: `run_job` skips finished jobs and holds a lease while running, and every run publishes a
new immutable version, so a run repeated after a crash cannot overwrite anything. The run folder is keyed
by the job id, so a repeated run resumes from the checkpoint the first one left.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from agnews_core.jobs import JobCancelledError, JobContext, JobStore, LeaseHeldError, default_job_metrics, run_job
from agnews_core.schemas import TrainingJobRequest
from agnews_core.tasks import TRAIN_TASK
from celery import Task, shared_task
from prometheus_client import REGISTRY, Gauge

log = logging.getLogger(__name__)

# Only the fields a caller may set through POST /v1/training-jobs reach the run config (derived from the knobs).
JOB_PARAMS = frozenset(TrainingJobRequest.model_fields)


class LastTrainingMetrics:
    def __init__(self) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, ["preset"], registry=REGISTRY)

        self.accuracy = gauge("agnews_last_training_accuracy", "Test accuracy of the last finished training run.")
        self.macro_f1 = gauge("agnews_last_training_macro_f1", "Test macro F1 of the last finished training run.")
        self.duration = gauge("agnews_last_training_duration_seconds", "Wall time of the last training run.")
        self.timestamp = gauge("agnews_last_training_timestamp_seconds", "Unix time the last training run finished.")

    def record(self, preset: str, result: dict[str, Any], seconds: float) -> None:
        for gauge, key in ((self.accuracy, "accuracy"), (self.macro_f1, "macro_f1")):
            value = result.get(key)
            if isinstance(value, int | float):
                gauge.labels(preset).set(float(value))
        self.duration.labels(preset).set(seconds)
        self.timestamp.labels(preset).set(time.time())


_last_training: LastTrainingMetrics | None = None


def last_training_metrics() -> LastTrainingMetrics:
    global _last_training
    if _last_training is None:
        _last_training = LastTrainingMetrics()
    return _last_training


def result_to_dict(result: Any) -> dict[str, Any]:
    """The pipeline's RunResult as JSON-ready data (the same object `agnews-train run` prints)."""
    if hasattr(result, "to_json_dict"):
        return dict(result.to_json_dict())
    if hasattr(result, "model_dump"):
        return dict(result.model_dump(mode="json"))
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        import json

        return dict(json.loads(json.dumps(dataclasses.asdict(result), default=str)))
    return dict(result)


def train_for_job(ctx: JobContext) -> dict[str, Any]:
    """Run the pipeline with the job's parameters over the worker's settings."""
    from agnews_trainer.config import TrainerSettings
    from agnews_trainer.pipeline import PipelineCancelled, run_pipeline

    settings = TrainerSettings()
    params = {k: v for k, v in ctx.job.params.items() if k in JOB_PARAMS}
    cfg = settings.run_config(**params, run_dir=settings.work_dir / "runs" / f"job-{ctx.job.id}")
    ctx.progress(0.0, f"starting a {cfg.preset} run")
    start = time.perf_counter()
    try:
        result = result_to_dict(run_pipeline(cfg, ctx.progress, ctx.cancelled))
    except PipelineCancelled as exc:
        raise JobCancelledError(str(exc)) from None
    last_training_metrics().record(cfg.preset, result, time.perf_counter() - start)
    return result


def run_training_job(job_id: str, redis_url: str, *, lease_s: float, redis_timeout_s: float = 5.0) -> str:
    jobs = JobStore.from_url(redis_url, timeout_s=redis_timeout_s)
    try:
        return run_job(jobs, job_id, train_for_job, lease_s=lease_s, metrics=default_job_metrics())
    finally:
        jobs.close()


@shared_task(name=TRAIN_TASK, bind=True, max_retries=None)
def train(self: Task, job_id: str) -> str:
    settings = self.app.conf.agnews_settings
    try:
        return run_training_job(
            job_id, settings.redis_url, lease_s=settings.job_lease_s, redis_timeout_s=settings.redis_timeout_s
        )
    except LeaseHeldError as exc:
        raise self.retry(exc=exc, countdown=settings.job_lease_s) from None
