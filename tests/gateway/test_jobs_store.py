"""The Redis job store: idempotency, guarded state transitions, cancel flag, leases (real Redis)."""

from __future__ import annotations

import pytest
import redis
from agnews_core.errors import ConflictError, JobNotFoundError
from agnews_core.jobs import JobStore, JobStoreUnavailableError, LeaseHeldError, run_job
from agnews_core.schemas import JobState, JobType
from stack import free_port


@pytest.fixture
def jobs(redis_url: str) -> JobStore:
    redis.Redis.from_url(redis_url).flushdb()
    return JobStore.from_url(redis_url)


def test_idempotency_key_returns_the_same_job(jobs: JobStore) -> None:
    first, created = jobs.create(JobType.BATCH, {"n": 1}, "key-1")
    again, created_again = jobs.create(JobType.BATCH, {"n": 2}, "key-1")
    other, _ = jobs.create(JobType.BATCH, {"n": 3}, "key-2")
    assert created and not created_again
    assert again.id == first.id and again.params == {"n": 1}
    assert other.id != first.id
    assert [j.id for j in jobs.list()] == [other.id, first.id]


def test_idempotency_keys_and_listing_are_scoped_per_owner(jobs: JobStore) -> None:
    alice, _ = jobs.create(JobType.BATCH, {"n": 1}, "same-key", owner="alice")
    bob, bob_created = jobs.create(JobType.BATCH, {"n": 2}, "same-key", owner="bob")
    anon, _ = jobs.create(JobType.BATCH, {"n": 3})
    assert bob_created and bob.id != alice.id and bob.params == {"n": 2}
    assert jobs.create(JobType.BATCH, {}, "same-key", owner="alice")[0].id == alice.id
    assert [j.id for j in jobs.list(owner="alice")] == [alice.id]
    assert [j.id for j in jobs.list(owner="bob")] == [bob.id]
    assert jobs.get(alice.id).owner == "alice" and jobs.get(anon.id).owner is None
    assert {j.id for j in jobs.list()} == {alice.id, bob.id, anon.id}


def test_transitions_are_guarded(jobs: JobStore) -> None:
    job, _ = jobs.create(JobType.BATCH, {})
    assert jobs.mark_running(job.id) and jobs.mark_running(job.id)  # a redelivery counts an attempt
    assert jobs.attempts(job.id) == 2
    jobs.set_progress(job.id, 0.5, "half")
    assert jobs.get(job.id).progress.fraction == 0.5 and jobs.get(job.id).progress.eta_s is None
    jobs.set_progress(job.id, 0.6, "training", eta_s=1234.56)
    assert jobs.get(job.id).progress.eta_s == 1234.6  # the job's own estimate, as the API returns it
    assert jobs.succeed(job.id, {"n": 1})
    assert jobs.get(job.id).progress.eta_s is None
    assert not jobs.fail(job.id, "late failure") and not jobs.mark_running(job.id)
    done = jobs.get(job.id)
    assert done.state == JobState.SUCCEEDED and done.result == {"n": 1} and done.error is None
    assert done.started_at and done.finished_at and done.finished_at >= done.started_at
    with pytest.raises(ConflictError, match="already succeeded"):
        jobs.cancel(job.id)
    with pytest.raises(JobNotFoundError):
        jobs.get("nope")


def test_run_job_reports_failure_and_cancellation(jobs: JobStore) -> None:
    failing, _ = jobs.create(JobType.BATCH, {})

    def boom(ctx: object) -> dict[str, object]:
        raise ValueError("inference said no")

    assert run_job(jobs, failing.id, boom, lease_s=5) == "failed"
    assert jobs.get(failing.id).error == "ValueError: inference said no"

    cancelled, _ = jobs.create(JobType.BATCH, {})

    def cancel_midway(ctx: object) -> dict[str, object]:
        jobs.cancel(cancelled.id)
        ctx.check_cancelled()  # type: ignore[attr-defined]
        return {}

    assert run_job(jobs, cancelled.id, cancel_midway, lease_s=5) == "cancelled"
    assert run_job(jobs, cancelled.id, boom, lease_s=5) == "cancelled"  # finished jobs never run again


def test_lease_keeps_a_second_delivery_out(jobs: JobStore) -> None:
    job, _ = jobs.create(JobType.BATCH, {})
    assert jobs.claim(job.id, "worker-a", 30)
    with pytest.raises(LeaseHeldError):
        run_job(jobs, job.id, lambda ctx: {}, lease_s=5)
    jobs.release(job.id, "worker-a")
    assert run_job(jobs, job.id, lambda ctx: {"ok": True}, lease_s=5) == "succeeded"


def test_redis_down_is_a_clear_error() -> None:
    down = JobStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    with pytest.raises(JobStoreUnavailableError, match=r"Redis \(job store at 127.0.0.1:\d+\) is unreachable"):
        down.get("x")
