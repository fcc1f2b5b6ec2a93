"""Faults caused for real on the whole stack (kill -9, SIGTERM, Redis stopped, a corrupt model, a held lock),
each test printing how long recovery took. Tests run in file order on one module stack.

Timings printed here were taken on whatever machine runs the suite; on a loaded shared machine they are
upper bounds, not figures to quote as latency.
"""

from __future__ import annotations

import csv
import fcntl
import io
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from faults_helpers import durable_step, report, until
from stack import Stack, free_port, wait_job

pytestmark = pytest.mark.faults


def _versions_of(stack: Stack, preset: str) -> list[str]:
    return [m.version for m in stack.registry.list_versions() if m.preset == preset]


def _upload(client: Any, n: int, tag: str) -> str:
    lines = "\n".join(f"{tag} markets rally as oil falls, day {i}" for i in range(n)).encode()
    response = client.post("/v1/batch-jobs", files={"file": (f"{tag}.txt", lines)})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _rows(client: Any, job_id: str) -> list[str]:
    return [r["id"] for r in csv.DictReader(io.StringIO(client.get(f"/v1/jobs/{job_id}/result").text))]


def test_cancel_while_publishing_is_refused_and_a_cancelled_run_never_moves_the_champion(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    before = stack.registry.champion().version
    lock_path = Path(stack.registry_uri) / "aliases" / ".champion.json.lock"
    raw = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    with stack.client(headers=stack.admin_headers) as client, open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the worker will wait at the alias swap, after its commit
        try:
            job_id = client.post("/v1/training-jobs", json={"preset": "tfidf"}, headers=stack.admin_headers).json()[
                "id"
            ]
            until(lambda: raw.hget(f"agnews:job:{job_id}", "phase") == "committed", 240, "the run's commit")
            refused = client.delete(f"/v1/jobs/{job_id}", headers=stack.admin_headers)
            assert refused.status_code == 409, refused.text
            assert "already publishing its result" in refused.json()["detail"]
            assert "can no longer be cancelled" in refused.json()["detail"]
            assert stack.registry.champion().version == before  # nothing moved yet
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        job = wait_job(client, job_id, timeout=60)
    assert job["state"] == "succeeded" and job["result"]["promoted"], job
    assert stack.registry.champion().version == job["result"]["version"]

    # Cancelled before its commit: cancelled, the champion stays, and the run leaves no version behind.
    with stack.client(headers=stack.admin_headers) as client:
        champion, versions = stack.registry.champion().version, len(stack.registry.list_versions())
        job_id = client.post("/v1/training-jobs", json={"preset": "tfidf"}, headers=stack.admin_headers).json()["id"]
        wait_job(client, job_id, timeout=60, until=("running",))
        assert client.delete(f"/v1/jobs/{job_id}", headers=stack.admin_headers).status_code == 200
        cancelled = time.monotonic()
        until(lambda: raw.exists(f"agnews:lease:{job_id}") == 0, 120, "the cancelled run stopped")
        stopped = time.monotonic() - cancelled
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
    assert stack.registry.champion().version == champion
    assert len(stack.registry.list_versions()) == versions  # the cancelled run left no version behind
    report("cancel of a training run", stopped, champion_unchanged=True)


def test_promoting_a_corrupt_version_is_refused_and_fresh_inference_still_starts(
    fault_stack: Stack, tmp_path: Path
) -> None:
    from fixtures_models import build_tiny_tfidf, publish_model

    stack = fault_stack
    champion = stack.registry.champion().version
    broken = build_tiny_tfidf(tmp_path / "broken", n_rows=200)
    for name in ("model.skops", "model.joblib"):  # what inference loads, and the pickle it refuses anyway
        (broken / name).write_bytes(b"not a model at all")
    version = publish_model(stack.registry, broken, "tfidf", promote=False)
    with stack.client(headers=stack.admin_headers) as client:
        started = time.monotonic()
        refused = client.post(f"/v1/models/{version}/promote", headers=stack.admin_headers)
        took = time.monotonic() - started
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert f"model {version} cannot be served" in detail and "the champion is unchanged" in detail, detail
        assert client.get("/v1/models").json()["champion"] == champion
        assert client.post("/v1/models/v0-no-such/promote", headers=stack.admin_headers).status_code == 404
    port = free_port()
    fresh = time.monotonic()
    stack.start_inference(name="inference-fresh", port=port, timeout=120)
    ready = time.monotonic() - fresh
    import httpx

    assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["model_version"] == champion
    stack.procs["inference-fresh"].stop()
    report("promote corrupt version (refused; a fresh inference became ready)", ready, refused_in_s=f"{took:.2f}")


def test_batch_worker_killed_mid_job_writes_every_row_once(fault_stack: Stack) -> None:
    stack = fault_stack
    n = 1200
    with stack.client(headers=stack.admin_headers) as client:
        job_id = _upload(client, n, "kill")
        until(lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"]["fraction"] >= 0.1, 60, "10% progress")
        stack.kill("batch")
        killed = time.monotonic()
        stack.start_worker("batch")
        job = wait_job(client, job_id, timeout=120)
        took = time.monotonic() - killed
        assert job["state"] == "succeeded", (job, stack.logs("batch"))
        assert job["result"]["n"] == n and job["attempts"] == 2
        assert _rows(client, job_id) == [str(i) for i in range(1, n + 1)]  # every row once, in order
    report("batch worker SIGKILL", took, attempts=job["attempts"])


def test_redis_stopped_while_jobs_finish_then_restarted(fault_stack: Stack) -> None:
    stack = fault_stack
    sizes = [300, 250, 200, 150]
    with stack.client(headers=stack.admin_headers) as client:
        ids = [_upload(client, n, f"blip{i}") for i, n in enumerate(sizes)]
        until(lambda: client.get(f"/v1/jobs/{ids[0]}").json()["state"] == "running", 60, "a running job")
        time.sleep(0.5)
        stack.stop_redis()
        time.sleep(3.0)  # jobs keep classifying; their outcomes wait for Redis
        stack.start_redis()
        back = time.monotonic()
        jobs = [wait_job(client, job_id, timeout=120) for job_id in ids]
        took = time.monotonic() - back
        assert [j["state"] for j in jobs] == ["succeeded"] * len(ids), (jobs, stack.logs("batch"))
        for job, n in zip(jobs, sizes, strict=True):
            assert job["result"]["n"] == n and len(_rows(client, job["id"])) == n
        assert not [j for j in client.get("/v1/jobs").json()["jobs"] if j["state"] == "running"]
    report("Redis stopped 3 s", took, jobs=len(ids))


def _start_tiny_run(stack: Stack, client: Any, tiny_bert_dir: Path, tag: str) -> str:
    # 320 rows, batch 32: 10 steps an epoch, a checkpoint at every validation pass (every 5 steps)
    body = {"preset": str(tiny_bert_dir), "epochs": 3, "max_train_samples": 320}
    headers = {**stack.admin_headers, "Idempotency-Key": tag}
    response = client.post("/v1/training-jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_training_worker_killed_mid_epoch_resumes_on_another_worker(fault_stack: Stack, tiny_bert_dir: Path) -> None:
    stack = fault_stack
    preset = str(tiny_bert_dir)
    with stack.client(headers=stack.admin_headers) as client:
        job_id = _start_tiny_run(stack, client, tiny_bert_dir, "sigkill")
        step = until(lambda: durable_step(Path(stack.registry_uri), job_id), 300, "a durable checkpoint")
        stack.kill("training")
        killed = time.monotonic()
        # another worker, another disk: only the artifact store carries the checkpoint over
        stack.training_env["TRAINER_WORK_DIR"] = str(stack.workdir / "trainer-2")
        stack.start_worker("training")
        until(lambda: client.get(f"/v1/jobs/{job_id}").json()["attempts"] == 2, 60, "the job running again")
        running_again = time.monotonic() - killed  # reaper noticed the lease, a fresh worker took it
        job = wait_job(client, job_id, timeout=300)
        took = time.monotonic() - killed
    assert job["state"] == "succeeded", (job, stack.logs("training"))
    assert job["result"]["resumed_from_step"] >= step > 0, (job["result"], step)
    assert job["attempts"] == 2
    assert _versions_of(stack, preset) == [job["result"]["version"]]  # exactly one version published
    # pruned once the outcome is recorded (by the worker, just after the job shows succeeded)
    durable, local = Path(stack.registry_uri) / "runs" / f"job-{job_id}", stack.workdir / "trainer-2" / "runs"
    until(lambda: not durable.exists() and not (local / f"job-{job_id}").exists(), 30, "the run folders pruned")
    resumed = job["result"]["resumed_from_step"]
    report("training worker SIGKILL", took, running_again_s=f"{running_again:.1f}", resumed_from_step=resumed)


def test_training_worker_sigterm_checkpoints_and_hands_the_job_back(fault_stack: Stack, tiny_bert_dir: Path) -> None:
    stack = fault_stack
    preset = str(tiny_bert_dir)
    published = len(_versions_of(stack, preset))
    with stack.client(headers=stack.admin_headers) as client:
        job_id = _start_tiny_run(stack, client, tiny_bert_dir, "sigterm")
        until(lambda: durable_step(Path(stack.registry_uri), job_id), 300, "a durable checkpoint")
        proc = stack.procs["training"]
        proc.signal(signal.SIGTERM)
        asked = time.monotonic()
        proc.popen.wait(120)
        drained = time.monotonic() - asked
        back = client.get(f"/v1/jobs/{job_id}").json()
        assert back["state"] == "queued", back
        assert back["progress"]["message"].startswith("handed back by a stopping worker"), back
        saved = durable_step(Path(stack.registry_uri), job_id)
        assert saved and saved > 0
        stack.start_worker("training")
        job = wait_job(client, job_id, timeout=300)
        took = time.monotonic() - asked
    assert job["state"] == "succeeded", (job, stack.logs("training"))
    assert job["result"]["resumed_from_step"] == saved
    assert len(_versions_of(stack, preset)) == published + 1
    report("training worker SIGTERM", took, worker_exit_s=f"{drained:.1f}", handed_back_at_step=saved)
