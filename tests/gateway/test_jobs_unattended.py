"""The job store's unattended paths on real Redis: commit vs cancel, the reaper's re-queue, hand-back, and an
outcome recorded across a Redis restart."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
from agnews_core.errors import ConflictError
from agnews_core.jobs import JobContext, JobHandedBack, JobStore, run_job
from agnews_core.schemas import JobState, JobType
from stack import free_port, wait_redis


@pytest.fixture
def jobs(redis_url: str) -> JobStore:
    redis.Redis.from_url(redis_url).flushdb()
    return JobStore.from_url(redis_url)


def test_cancel_before_commit_wins_and_after_commit_is_refused(jobs: JobStore) -> None:
    early, _ = jobs.create(JobType.TRAINING, {})
    jobs.mark_running(early.id)
    jobs.cancel(early.id)
    assert not jobs.commit(early.id)  # the run withdraws instead of publishing

    late, _ = jobs.create(JobType.TRAINING, {})
    jobs.mark_running(late.id)
    jobs.set_progress(late.id, 0.97, "publishing v1")
    assert jobs.commit(late.id)
    with pytest.raises(ConflictError, match=r"already publishing its result \(publishing v1\); it can no longer"):
        jobs.cancel(late.id)
    assert jobs.get(late.id).state == JobState.RUNNING and jobs.succeed(late.id, {"version": "v1"})


def test_reaper_requeues_an_expired_lease_then_gives_up(jobs: JobStore) -> None:
    job, _ = jobs.create(JobType.BATCH, {})
    jobs.claim(job.id, "worker-a", 30)
    jobs.mark_running(job.id)
    assert jobs.running_ids() == (job.id,)
    assert jobs.reap(job.id, max_attempts=2) == "alive"  # the lease is still held
    jobs.release(job.id, "worker-a")  # as if it expired
    assert jobs.reap(job.id, max_attempts=2) == "requeued"
    requeued = jobs.get(job.id)
    assert requeued.state == JobState.QUEUED and requeued.attempts == 1 and jobs.running_ids() == ()
    assert "lease expired" in requeued.progress.message and "attempt 2 of 2" in requeued.progress.message
    jobs.mark_running(job.id)  # the second delivery starts, and is lost too
    assert jobs.reap(job.id, max_attempts=2) == "failed"
    failed = jobs.get(job.id)
    assert failed.state == JobState.FAILED and failed.attempts == 2 and failed.finished_at
    assert failed.error == "its worker was lost 2 times (lease expired each time); gave up after 2 attempts"
    assert jobs.reap(job.id, max_attempts=2) == "alive" and jobs.running_ids() == ()


def test_a_handed_back_job_is_queued_again(jobs: JobStore) -> None:
    job, _ = jobs.create(JobType.TRAINING, {})

    def drain(ctx: JobContext) -> dict[str, object]:
        raise JobHandedBack("handed back by a stopping worker")

    with pytest.raises(JobHandedBack):
        run_job(jobs, job.id, drain, lease_s=5)
    back = jobs.get(job.id)
    assert back.state == JobState.QUEUED and back.progress.message == "handed back by a stopping worker"
    assert jobs.running_ids() == () and run_job(jobs, job.id, lambda ctx: {"ok": 1}, lease_s=5) == "succeeded"
    assert jobs.get(job.id).attempts == 2


def _quiet(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_outcome_is_recorded_across_a_redis_restart(tmp_path: Path) -> None:
    port = free_port()
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "yes", "--dir", str(tmp_path)]
    url = f"redis://127.0.0.1:{port}/0"
    procs = [_quiet(argv)]
    try:
        wait_redis(url)
        store = JobStore.from_url(url, timeout_s=0.5)
        job, _ = store.create(JobType.BATCH, {})
        down_for = 2.0

        def work(ctx: JobContext) -> dict[str, object]:
            procs[0].terminate()  # Redis goes away just as the job ends
            procs[0].wait(10)
            threading.Timer(down_for, lambda: procs.append(_quiet(argv))).start()
            return {"n": 3}

        started = time.monotonic()
        assert run_job(store, job.id, work, lease_s=10, record_timeout_s=30) == "succeeded"
        took = time.monotonic() - started
        print(f"outcome recorded {took:.1f}s after Redis went down (down {down_for:.0f}s)")
        done = store.get(job.id)
        assert done.state == JobState.SUCCEEDED and done.result == {"n": 3} and took >= down_for
        assert store.running_ids() == ()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def test_reaper_resends_a_queued_job_whose_message_is_gone(redis_url: str, tmp_path: Path) -> None:
    from agnews_core.storage import LocalStore
    from agnews_gateway.reaper import Reaper, ReaperMetrics, broker_job_ids
    from agnews_gateway.settings import GatewaySettings
    from agnews_gateway.task_queue import TaskQueue

    redis.Redis.from_url(redis_url).flushdb()
    settings = GatewaySettings(redis_url=redis_url, queued_grace_s=2.0)  # room for a busy CI machine
    jobs = JobStore.from_url(redis_url)
    queue = TaskQueue(settings)
    reaper = Reaper(settings, jobs, queue, LocalStore(tmp_path), ReaperMetrics())
    try:
        lost, _ = jobs.create(JobType.BATCH, {})  # created, but its message never reached the broker
        waiting, _ = jobs.create(JobType.BATCH, {})
        queue.send(JobType.BATCH, waiting.id)
        assert reaper.resend_lost() == 0  # both still within the grace period
        time.sleep(2.1)
        assert broker_job_ids(jobs.client) == {waiting.id}
        assert reaper.resend_lost() == 1 and broker_job_ids(jobs.client) == {waiting.id, lost.id}
        time.sleep(2.1)
        assert reaper.resend_lost() == 0  # its message is there now
        jobs.mark_running(lost.id)
        assert jobs.queued_since(0) == (waiting.id,)
    finally:
        queue.close()
