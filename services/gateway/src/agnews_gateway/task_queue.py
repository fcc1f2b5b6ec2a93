"""Sending jobs to the Celery queues by task name (the gateway never imports worker code) and revoking them."""

from __future__ import annotations

import logging

from agnews_core.jobs import JobStore, JobStoreUnavailableError
from agnews_core.schemas import Job, JobType
from agnews_core.tasks import BATCH_CLASSIFY_TASK, TASK_QUEUES, TRAIN_TASK, celery_config
from celery import Celery
from kombu.exceptions import OperationalError

from agnews_gateway.metrics import GatewayMetrics
from agnews_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

TASK_OF: dict[JobType, str] = {JobType.BATCH: BATCH_CLASSIFY_TASK, JobType.TRAINING: TRAIN_TASK}


class TaskQueue:
    """A producer-only Celery app."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.app = Celery("agnews_gateway")
        self.app.conf.update(
            celery_config(
                settings.redis_url,
                visibility_timeout_s=settings.visibility_timeout_s,
                result_expires_s=settings.result_expires_s,
            )
        )

    def send(self, job_type: JobType, job_id: str) -> None:
        """Queue the job's task; the Celery task id is the job id (so revoke needs nothing else)."""
        name = TASK_OF[job_type]
        try:
            self.app.send_task(name, args=[job_id], task_id=job_id, queue=TASK_QUEUES[name])
        except (OperationalError, OSError) as exc:
            raise JobStoreUnavailableError(f"could not queue job {job_id}: Redis (broker) unreachable: {exc}") from None

    def revoke(self, job_id: str) -> None:
        """Best effort: workers drop a revoked task they have not started; running ones see the cancel flag."""
        try:
            self.app.control.revoke(job_id)
        except Exception as exc:  # the cancel flag in the job record is what counts
            log.warning("could not broadcast revoke of %s: %s", job_id, exc)

    def close(self) -> None:
        self.app.close()


def queue_job(job: Job, jobs: JobStore, queue: TaskQueue, metrics: GatewayMetrics) -> None:
    """Send a newly created job to its queue; if that fails, the record says failed instead of queued forever."""
    try:
        queue.send(job.type, job.id)
    except Exception as exc:
        jobs.fail(job.id, f"could not queue the job: {exc}")
        raise
    metrics.jobs_created.labels(str(job.type), "queued").inc()
