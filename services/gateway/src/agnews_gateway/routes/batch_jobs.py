"""POST /v1/batch-jobs: validate an upload, store it in the artifact store, queue the batch task."""

from __future__ import annotations

from typing import Annotated

from agnews_core.errors import PayloadTooLargeError, StorageError
from agnews_core.schemas import Job, JobType
from fastapi import APIRouter, File, Header, UploadFile

from agnews_gateway.batch import input_key
from agnews_gateway.batch_files import detect_format, parse_articles
from agnews_gateway.deps import ClientKeyDep, JobStoreDep, QueueDep, ResourcesDep, SettingsDep, StoreDep
from agnews_gateway.task_queue import queue_job

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
    Header(alias="Idempotency-Key", max_length=200, description="same key, same job: retries never create a second"),
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
    _key: ClientKeyDep,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    """Queue a batch classification of an uploaded file; poll GET /v1/jobs/{id}, then fetch its result."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLargeError(f"the file is larger than {settings.max_upload_bytes} bytes")
    fmt = detect_format(file.filename, data[:4096])
    rows = parse_articles(data, fmt, settings.max_batch_articles)
    params = {"filename": file.filename or "", "format": fmt, "n_articles": len(rows), "size_bytes": len(data)}
    job, created = jobs.create(JobType.BATCH, params, idempotency_key)
    if not created:
        return job
    try:
        store.put_bytes(input_key(job.id, fmt), data)
    except Exception as exc:
        jobs.fail(job.id, f"could not store the upload: {exc}")
        raise StorageError(f"could not store the upload in {store.uri}: {exc}") from None
    queue_job(job, jobs, queue, res.metrics)
    return job
