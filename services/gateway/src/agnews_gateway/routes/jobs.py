"""Reading, listing and cancelling jobs, and downloading a batch job's result."""

from __future__ import annotations

from typing import Annotated

from agnews_core.errors import ConflictError
from agnews_core.schemas import Job, JobList, JobState, JobType
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import FileResponse

from agnews_gateway.batch import result_key
from agnews_gateway.deps import BearerDep, ClientKeyDep, JobStoreDep, QueueDep, SettingsDep, StoreDep

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobList)
def list_jobs(
    jobs: JobStoreDep,
    _key: ClientKeyDep,
    type: Annotated[JobType | None, Query(description="only jobs of this type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobList:
    """Jobs, newest first."""
    return JobList(jobs=jobs.list(limit=limit, job_type=type))


@router.get("/{job_id}", response_model=Job, responses={404: {"description": "no such job"}})
def read_job(job_id: str, jobs: JobStoreDep, _key: ClientKeyDep) -> Job:
    """One job: state, progress, timestamps, result or error."""
    return jobs.get(job_id)


@router.delete("/{job_id}", response_model=Job, responses={409: {"description": "the job already finished"}})
def cancel_job(
    job_id: str, jobs: JobStoreDep, queue: QueueDep, settings: SettingsDep, creds: BearerDep, _key: ClientKeyDep
) -> Job:
    """Cancel a queued or running job (training jobs need the admin key)."""
    job = jobs.get(job_id)
    if job.type == JobType.TRAINING:
        if creds is None or not creds.credentials:
            raise HTTPException(
                401,
                "cancelling a training job needs an admin key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not settings.is_admin_key(creds.credentials):
            raise HTTPException(403, "this API key is not an admin key")
    job = jobs.cancel(job_id)
    queue.revoke(job_id)
    return job


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "id,text,label,label_id,p_<label>..."}},
)
def read_job_result(job_id: str, jobs: JobStoreDep, store: StoreDep, _key: ClientKeyDep) -> Response:
    """The predictions of a finished batch job, as CSV."""
    job = jobs.get(job_id)
    if job.type != JobType.BATCH:
        raise ConflictError(f"job {job_id} is a {job.type} job; only batch jobs have a CSV result")
    if job.state != JobState.SUCCEEDED:
        raise ConflictError(f"job {job_id} is {job.state}; its result is ready once it succeeded")
    key = result_key(job_id)
    headers = {"Content-Disposition": f'attachment; filename="{job_id}.csv"'}
    local = store.local_path(key)
    if local is not None and local.is_file():
        return FileResponse(local, media_type="text/csv; charset=utf-8", headers=headers)
    return Response(store.get_bytes(key), media_type="text/csv; charset=utf-8", headers=headers)
