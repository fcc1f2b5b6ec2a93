"""The training task: decode the job, run the pipeline, record the outcome. Thin on purpose.

Redelivery-safe: `run_job` skips finished jobs and holds a lease while running, and every run publishes a
new immutable version, so a run repeated after a crash cannot overwrite anything. The run is keyed by the job
id, locally and in the artifact store (durable.py), so a repeated run on any worker resumes from the last
checkpoint, and one that already published returns its result. A worker asked to stop (SIGTERM: a rollout,
a drained node) stops the run at a checkpoint and hands the job back for another worker to resume.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agnews_core.jobs import (
    JobCancelledError,
    JobContext,
    JobHandedBack,
    JobStore,
    default_job_metrics,
    deliver,
    run_job,
)
from agnews_core.schemas import TrainingJobRequest
from agnews_core.tasks import TRAIN_TASK
from celery import Task, shared_task
from prometheus_client import REGISTRY, Gauge

if TYPE_CHECKING:
    from agnews_trainer.worker import TrainingWorkerSettings

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


_draining = threading.Event()


def request_drain() -> None:
    """The worker is stopping: the running job checkpoints and is handed back (see worker.py)."""
    _draining.set()


def run_id(job_id: str) -> str:
    return f"job-{job_id}"


def train_for_job(ctx: JobContext) -> dict[str, Any]:
    """Run the pipeline with the job's parameters over the worker's settings."""
    from agnews_trainer.config import TrainerSettings
    from agnews_trainer.durable import DurableRun
    from agnews_trainer.pipeline import PipelineCancelled, run_pipeline

    settings = TrainerSettings()
    params = {k: v for k, v in ctx.job.params.items() if k in JOB_PARAMS}
    cfg = settings.run_config(**params, run_dir=settings.work_dir / "runs" / run_id(ctx.job.id))
    durable = DurableRun(settings.open_store(), run_id(ctx.job.id))
    ctx.progress(0.0, f"starting a {cfg.preset} run")
    start = time.perf_counter()
    try:
        run = run_pipeline(
            cfg, ctx.progress, lambda: _draining.is_set() or ctx.cancelled(), commit=ctx.commit, durable=durable
        )
    except PipelineCancelled as exc:
        if _draining.is_set() and not ctx.cancelled():
            raise JobHandedBack("handed back by a stopping worker; it resumes from its last checkpoint") from None
        raise JobCancelledError(str(exc)) from None
    result = result_to_dict(run)
    last_training_metrics().record(cfg.preset, result, time.perf_counter() - start)
    return result


def prune_run(job_id: str) -> None:
    """A succeeded run's folders (local and durable): its model is in the registry, its result in the job."""
    from agnews_trainer.config import TrainerSettings
    from agnews_trainer.durable import DurableRun

    settings = TrainerSettings()
    shutil.rmtree(settings.work_dir / "runs" / run_id(job_id), ignore_errors=True)
    DurableRun(settings.open_store(), run_id(job_id)).delete()


def prune_local_runs(runs_dir: Path, keep_s: float) -> list[Path]:
    """Local run folders untouched for `keep_s` (failed runs kept for debugging, then dropped)."""
    cutoff = time.time() - keep_s
    old = [p for p in runs_dir.glob("*") if p.is_dir() and p.stat().st_mtime < cutoff] if runs_dir.is_dir() else []
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def run_training_job(job_id: str, settings: TrainingWorkerSettings) -> str:
    from agnews_trainer.config import TrainerSettings

    prune_local_runs(TrainerSettings().work_dir / "runs", settings.failed_run_ttl_s)
    jobs = JobStore.from_url(settings.redis_url, timeout_s=settings.redis_timeout_s)
    try:
        state = run_job(
            jobs,
            job_id,
            train_for_job,
            lease_s=settings.job_lease_s,
            metrics=default_job_metrics(),
            record_timeout_s=settings.record_timeout_s,
        )
    finally:
        jobs.close()
    if state == "succeeded":
        try:
            prune_run(job_id)
        except Exception as exc:  # the reaper prunes it later
            log.warning("could not prune the run of job %s: %s", job_id, exc)
    return state


@shared_task(name=TRAIN_TASK, bind=True, max_retries=None)
def train(self: Task, job_id: str) -> str:
    settings: TrainingWorkerSettings = self.app.conf.agnews_settings
    return deliver(self, lambda: run_training_job(job_id, settings), lease_s=settings.job_lease_s)
