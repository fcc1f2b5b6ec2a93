"""POST /v1/training-jobs (admin): queue a pipeline run on the training worker."""

from __future__ import annotations

from agnews_core.schemas import Job, JobType, TrainingJobRequest
from fastapi import APIRouter

from agnews_gateway.deps import AdminDep, JobStoreDep, QueueDep, ResourcesDep, SettingsDep
from agnews_gateway.routes.batch_jobs import IdempotencyKey
from agnews_gateway.task_queue import queue_job
from agnews_gateway.training_rules import check_training_request

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.post(
    "/training-jobs",
    status_code=202,
    response_model=Job,
    responses={422: {"description": "unknown preset, data source not allowed, or a knob out of bounds"}},
)
def create_training_job(
    body: TrainingJobRequest,
    jobs: JobStoreDep,
    queue: QueueDep,
    res: ResourcesDep,
    settings: SettingsDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    """Queue a training run; the new model is promoted only if it beats the champion."""
    check_training_request(body, settings)
    job, created = jobs.create(JobType.TRAINING, body.model_dump(exclude_none=True), idempotency_key, owner=admin.owner)
    if created:
        queue_job(job, jobs, queue, res.metrics)
    return job
