"""Running one job inside a worker task: lease with heartbeat, cancel checks, outcome recorded once.

The outcome is what must never be dropped: if Redis blinks as a job ends, recording it is retried (the lease
heartbeat keeps the job ours meanwhile) until it lands or `record_timeout_s` passes; only then does the task
give the message back (JobStoreUnavailableError), so Celery never acknowledges an unrecorded outcome.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from agnews_core.errors import AgnewsError, JobNotFoundError
from agnews_core.jobs.metrics import JobMetrics
from agnews_core.jobs.store import JobCancelledError, JobStore, JobStoreUnavailableError, LeaseHeldError
from agnews_core.schemas import Job, JobState

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobHandedBack(AgnewsError):
    """Raised by a job's work when its worker is draining (SIGTERM): it saved its state; re-queue the job."""


def retry_store(call: Callable[[], T], what: str, timeout_s: float) -> T:
    """`call()` until Redis answers (backoff up to 5 s); JobStoreUnavailableError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay = 0.25
    while True:
        try:
            return call()
        except JobStoreUnavailableError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("could not %s (retrying in %.1fs): %s", what, delay, exc)
            time.sleep(delay)
            delay = min(5.0, delay * 2)


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

    def commit(self) -> bool:
        """Take the point of no return before the result becomes visible; False: cancelled, do not publish."""
        return retry_store(lambda: self.store.commit(self.job.id), f"commit job {self.job.id}", 60.0)


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
    record_timeout_s: float = 600.0,
) -> str:
    """Run `work` for a job once: skip finished jobs, hold the lease, record the outcome. Returns the state.

    Raises LeaseHeldError when another delivery holds the job (the task retries later), JobHandedBack when
    the work stopped for a draining worker (the job is queued again), and JobStoreUnavailableError when Redis
    stayed down (the task hands the message back; the reaper re-queues the job if that fails too).
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
        except JobHandedBack as exc:
            why = str(exc)
            retry_store(lambda: store.hand_back(job_id, why), f"hand back job {job_id}", record_timeout_s)
            log.info("job %s handed back: %s", job_id, why)
            raise
        except JobCancelledError:
            retry_store(lambda: store.mark_cancelled(job_id), f"record job {job_id}", record_timeout_s)
            state = JobState.CANCELLED
            log.info("job %s cancelled", job_id)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            error = f"{type(exc).__name__}: {exc}"
            retry_store(lambda: store.fail(job_id, error), f"record job {job_id}", record_timeout_s)
            state = JobState.FAILED
        else:
            landed = retry_store(lambda: store.succeed(job_id, result), f"record job {job_id}", record_timeout_s)
            state = JobState.SUCCEEDED if landed else store.get(job_id).state
        if metrics is not None:
            metrics.total.labels(str(job.type), str(state)).inc()
            metrics.duration.labels(str(job.type), str(state)).observe(time.perf_counter() - start)
        return str(state)
