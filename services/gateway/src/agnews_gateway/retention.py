"""What the artifact store keeps, and for how long: the reaper's retention pass, as plain functions.

jobs/<job id>/...        a batch job's upload and result: deleted once the job record expired (same TTL)
runs/job-<job id>/...    a training run's durable checkpoints and result: deleted once the job succeeded
                         or was cancelled, kept `failed_run_ttl_s` after a failure (for debugging)
models/...               registered versions: never deleted here (immutable; the alias history needs them)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from agnews_core.errors import JobNotFoundError
from agnews_core.jobs import JobStore
from agnews_core.schemas import JobState
from agnews_core.storage import ArtifactStore

log = logging.getLogger(__name__)

AREAS = ("uploads", "results", "checkpoints", "models")
RUN_PREFIX = "job-"


def area_of(key: str) -> str | None:
    """Which storage area a key counts in (the label of agnews_storage_bytes)."""
    top = key.split("/", 1)[0]
    if top == "jobs":
        return "results" if key.rsplit("/", 1)[-1].startswith("result") else "uploads"
    return {"runs": "checkpoints", "models": "models"}.get(top)


def bytes_per_area(store: ArtifactStore) -> dict[str, int]:
    held = dict.fromkeys(AREAS, 0)
    for prefix in ("jobs", "runs", "models"):
        for key, size in store.sizes(prefix).items():
            area = area_of(key)
            if area is not None:
                held[area] += size
    return held


def _by_owner(store: ArtifactStore, prefix: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in store.list(prefix):
        parts = key.split("/")
        if len(parts) > 2:
            grouped[parts[1]].append(key)
    return grouped


def _run_expired(jobs: JobStore, job_id: str, failed_ttl_s: float, now: datetime) -> bool:
    try:
        job = jobs.get(job_id)
    except JobNotFoundError:
        return True
    if job.state in (JobState.SUCCEEDED, JobState.CANCELLED):
        return True
    if job.state == JobState.FAILED:
        finished = job.finished_at or job.created_at
        return (now - finished).total_seconds() >= failed_ttl_s
    return False  # queued or running: its checkpoints are how it resumes


def sweep(store: ArtifactStore, jobs: JobStore, *, failed_run_ttl_s: float) -> dict[str, int]:
    """Delete what outlived its job; returns the number of keys deleted per area."""
    deleted: dict[str, int] = defaultdict(int)
    now = datetime.now(UTC)
    for job_id, keys in _by_owner(store, "jobs").items():
        if not jobs.exists(job_id):
            for key in keys:
                store.delete(key)
                deleted[area_of(key) or "other"] += 1
    for run_id, keys in _by_owner(store, "runs").items():
        if run_id.startswith(RUN_PREFIX) and _run_expired(jobs, run_id[len(RUN_PREFIX) :], failed_run_ttl_s, now):
            for key in keys:
                store.delete(key)
            deleted["checkpoints"] += len(keys)
    trimmed = jobs.trim_index()
    if deleted or trimmed:
        log.info("retention: deleted %s; %d expired index entries trimmed", dict(deleted), trimmed)
    return dict(deleted)
