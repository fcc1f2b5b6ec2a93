"""Storage stays bounded: after a short job TTL, uploads, results, left-over run folders and stale cache entries
are gone and the byte metrics drop back. A stack of its own (job TTL 12 s, no training worker)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from faults_helpers import metric, report, until
from stack import Stack, wait_job

pytestmark = pytest.mark.faults

TTL_S = 12


@pytest.fixture(scope="module")
def short_ttl_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ttl = {"GATEWAY_JOB_TTL_S": str(TTL_S), "GATEWAY_IDEMPOTENCY_TTL_S": str(TTL_S)}
    with Stack.start(tmp_path_factory.mktemp("retention"), champion="tfidf", training=False, gateway_env=ttl) as s:
        yield s


def test_job_files_and_run_folders_go_with_their_job(short_ttl_stack: Stack) -> None:
    stack = short_ttl_stack
    root = Path(stack.registry_uri)
    reaper = f"http://127.0.0.1:{stack.reaper_metrics_port}/metrics"
    with stack.client() as client:
        ids = []
        for i in range(2):
            lines = "\n".join(f"Retention story {i}-{j}" for j in range(40)).encode()
            ids.append(client.post("/v1/batch-jobs", files={"file": (f"r{i}.txt", lines)}).json()["id"])
        assert [wait_job(client, job_id, timeout=60)["state"] for job_id in ids] == ["succeeded"] * 2
        finished = time.monotonic()
    # a run folder whose job is gone (its worker and its record both lost): nothing will ever resume it
    orphan = root / "runs" / "job-0123456789abcdef" / "checkpoints" / "step-000000005"
    orphan.mkdir(parents=True)
    (orphan / "model.pt").write_bytes(b"x" * 4096)
    for job_id in ids:
        assert (root / "jobs" / job_id / "input.txt").is_file() and (root / "jobs" / job_id / "result.csv").is_file()
    until(lambda: metric(reaper, "agnews_storage_bytes", 'area="uploads"') > 0, 30, "uploads counted")
    assert metric(reaper, "agnews_storage_bytes", 'area="results"') > 0

    until(lambda: not any((root / "jobs" / job_id).exists() for job_id in ids), TTL_S + 30, "job files deleted")
    gone = time.monotonic() - finished
    until(lambda: not (root / "runs" / "job-0123456789abcdef").exists(), 30, "the orphaned run folder deleted")
    for area in ("uploads", "results", "checkpoints"):
        until(lambda a=area: metric(reaper, "agnews_storage_bytes", f'area="{a}"') == 0, 30, f"{area} bytes at 0")
    assert metric(reaper, "agnews_storage_bytes", 'area="models"') > 0  # versions stay
    assert metric(reaper, "agnews_storage_deleted_total", 'area="uploads"') == 2
    raw = redis.Redis.from_url(stack.redis_url)
    until(lambda: raw.zcard("agnews:jobs") == 0, 30, "the job index trimmed")
    report("retention after the job TTL", gone, ttl_s=TTL_S)


def test_inference_cache_keeps_the_champion_and_the_previous_version(short_ttl_stack: Stack) -> None:
    stack = short_ttl_stack
    cache = stack.workdir / "inference-cache"
    leaked = cache / "models" / ".v0-gone.abcd1234"  # what a failed download used to leave behind
    leaked.mkdir(parents=True)
    (leaked / "model.onnx").write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(leaked, (old, old))
    versions = []
    for seed in range(3):
        from fixtures_models import build_tiny_transformer

        model_dir = build_tiny_transformer(stack.workdir / f"tiny-{seed}", seed=seed, vocab_size=300)
        versions.append(stack.publish_champion("transformers", model_dir))
        stack.wait_for_champion(versions[-1], timeout=120)
    compiled = sorted(p.name for p in (cache / "compiled").iterdir() if not p.name.startswith("."))
    assert compiled and all(name.startswith((versions[1], versions[2])) for name in compiled), compiled
    assert any(name.startswith(versions[1]) for name in compiled)  # the previous one stays for a rollback
    assert not leaked.exists()
    inference = f"{stack.inference_url}/metrics"
    held = metric(inference, "agnews_inference_cache_bytes")
    assert held == sum(p.stat().st_size for p in (cache / "compiled").iterdir()) > 0
