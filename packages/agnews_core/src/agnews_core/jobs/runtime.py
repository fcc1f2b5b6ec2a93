"""Running one job inside a worker task: lease with heartbeat, cancel checks, outcome recorded once."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from agnews_core.errors import JobNotFoundError
from agnews_core.jobs.metrics import JobMetrics
from agnews_core.jobs.store import JobCancelledError, JobStore, JobStoreUnavailableError, LeaseHeldError
from agnews_core.schemas import Job, JobState

log = logging.getLogger(__name__)


class JobContext:
    """What a job's work function gets: its job, progress reporting and the cancel flag."""

    def __init__(self, store: JobStore, job: Job) -> None:
        self.store = store
        self.job = job

    def progress(self, fraction: float, message: str, eta_s: float | None = None) -> None:
        try:
            self.store.set_progress(self.job.id, fraction, message, eta_s)
        except JobStoreUnavailableError as exc:  # progress is advisory; the work goes on
            log.warning("could not report progress of job %s: %s", self.job.id, exc)

    def cancelled(self) -> bool:
        try:
            return self.store.cancel_requested(self.job.id)
        except JobStoreUnavailableError:
            return False

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelledError(f"job {self.job.id} was cancelled")


@contextmanager
def job_lease(store: JobStore, job_id: str, lease_s: float) -> Iterator[str]:
    """Hold the job's lease for the block, renewing it from a heartbeat thread; LeaseHeldError if taken."""
    owner = uuid.uuid4().hex
    if not store.claim(job_id, owner, lease_s):
        raise LeaseHeldError(f"job {job_id} is held by another delivery")
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease_s / 3):
            try:
                if not store.renew(job_id, owner, lease_s):
                    log.warning("lost the lease of job %s", job_id)
            except JobStoreUnavailableError as exc:
                log.warning("could not renew the lease of job %s: %s", job_id, exc)

    thread = threading.Thread(target=heartbeat, name=f"lease-{job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        stop.set()
        thread.join(timeout=5)
        with suppress(JobStoreUnavailableError):  # it expires on its own
            store.release(job_id, owner)


def run_job(
    store: JobStore,
    job_id: str,
    work: Callable[[JobContext], dict[str, Any]],
    *,
    lease_s: float,
    metrics: JobMetrics | None = None,
) -> str:
    """Run `work` for a job once: skip finished jobs, hold the lease, record the outcome. Returns the state.

    Raises LeaseHeldError when another delivery holds the job (the task retries later) and
    JobStoreUnavailableError when Redis is down (the message stays unacked and comes back).
    """
    try:
        job = store.get(job_id)
    except JobNotFoundError:
        log.warning("job %s is unknown or expired; dropping its task", job_id)
        return "missing"
    if job.state.finished:
        log.info("job %s already %s; nothing to do", job_id, job.state)
        return str(job.state)
    with job_lease(store, job_id, lease_s):
        if not store.mark_running(job_id):
            return str(store.get(job_id).state)
        ctx = JobContext(store, store.get(job_id))
        start = time.perf_counter()
        try:
            ctx.check_cancelled()
            result = work(ctx)
            if ctx.cancelled():
                raise JobCancelledError(f"job {job_id} was cancelled")
        except JobCancelledError:
            store.mark_cancelled(job_id)
            state = JobState.CANCELLED
            log.info("job %s cancelled", job_id)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            store.fail(job_id, f"{type(exc).__name__}: {exc}")
            state = JobState.FAILED
        else:
            state = JobState.SUCCEEDED if store.succeed(job_id, result) else store.get(job_id).state
        if metrics is not None:
            metrics.total.labels(str(job.type), str(state)).inc()
            metrics.duration.labels(str(job.type), str(state)).observe(time.perf_counter() - start)
        return str(state)
