"""POST /v1/batch-jobs: validate an upload, store it in the artifact store, queue the batch task."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from agnews_core.errors import StorageError
from agnews_core.schemas import Job, JobType
from fastapi import APIRouter, File, Header, UploadFile

from agnews_gateway.batch import input_key
from agnews_gateway.batch_files import count_articles, detect_format
from agnews_gateway.deps import CallerDep, JobStoreDep, QueueDep, ResourcesDep, SettingsDep, StoreDep
from agnews_gateway.job_views import view_for
from agnews_gateway.task_queue import queue_job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["jobs"])

JOB_EXAMPLE = {
    "id": "4f1ebf9fd96e4354a3700fd3f6775b65",
    "type": "batch",
    "state": "queued",
    "progress": {"fraction": 0.0, "message": "queued"},
    "created_at": "2026-11-26T01:05:30.989020Z",
    "started_at": None,
    "finished_at": None,
    "params": {"filename": "news.csv", "format": "csv", "n_articles": 300, "size_bytes": 13389},
    "result": None,
    "error": None,
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="same key from the same caller, same job: retries never create a second",
    ),
]


@router.post(
    "/batch-jobs",
    status_code=202,
    response_model=Job,
    responses={
        202: {"content": {"application/json": {"example": JOB_EXAMPLE}}},
        413: {"description": "file too large or too many articles"},
        422: {"description": "bad file (the detail says what is wrong)"},
    },
)
def create_batch_job(
    file: Annotated[UploadFile, File(description="CSV (title,description or text columns), JSONL, or TXT")],
    settings: SettingsDep,
    jobs: JobStoreDep,
    store: StoreDep,
    queue: QueueDep,
    res: ResourcesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    """Queue a batch classification of an uploaded file; poll GET /v1/jobs/{id}, then fetch its result."""
    # the body limit already bounded the upload; Starlette spooled it to disk past 1 MiB
    upload = file.file
    size = upload.seek(0, os.SEEK_END)
    upload.seek(0)
    fmt = detect_format(file.filename, upload.read(4096))
    upload.seek(0)
    n = count_articles(upload, fmt, settings.max_batch_articles, settings.max_line_bytes)
    filename = (file.filename or "")[:200]
    params = {"filename": filename, "format": fmt, "n_articles": n, "size_bytes": size}
    job, created = jobs.create(JobType.BATCH, params, idempotency_key, owner=caller.owner)
    if not created:
        return view_for(caller, job)
    try:
        with tempfile.NamedTemporaryFile(prefix="agnews-upload-") as copy:
            upload.seek(0)
            shutil.copyfileobj(upload, copy)
            copy.flush()
            store.put_file(input_key(job.id, fmt), Path(copy.name))
    except Exception as exc:
        log.warning("could not store the upload of job %s in %s: %s", job.id, store.uri, exc)
        jobs.fail(job.id, f"could not store the upload in {store.uri}: {exc}")
        raise StorageError("could not store the upload; try again later") from None
    queue_job(job, jobs, queue, res.metrics)
    return view_for(caller, job)
