"""Reading, listing and cancelling jobs, and downloading a batch job's result.

Every route sees only the caller's own jobs (others' are 404, like missing ones); admins see every job.
Non-admin views carry no internal detail (data sources, storage locations, worker errors verbatim).
"""

from __future__ import annotations

from typing import Annotated, Any

from agnews_core.errors import ConflictError
from agnews_core.schemas import Job, JobList, JobState, JobType
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import FileResponse

from agnews_gateway.batch import result_key
from agnews_gateway.deps import CallerDep, JobStoreDep, NamedCallerDep, OwnedJobDep, QueueDep, StoreDep
from agnews_gateway.job_views import view_for

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job, or not yours"}}


@router.get("", response_model=JobList, responses={401: {"description": "listing needs an API key"}})
def list_jobs(
    jobs: JobStoreDep,
    caller: NamedCallerDep,
    type: Annotated[JobType | None, Query(description="only jobs of this type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobList:
    """Your jobs (admins: everyone's), newest first."""
    owner = None if caller.admin else caller.owner
    return JobList(jobs=[view_for(caller, j) for j in jobs.list(limit=limit, job_type=type, owner=owner)])


@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND)
def read_job(job: OwnedJobDep, caller: CallerDep) -> Job:
    """One job: state, progress, timestamps, result or error."""
    return view_for(caller, job)


@router.delete("/{job_id}", response_model=Job, responses={**NOT_FOUND, 409: {"description": "already finished"}})
def cancel_job(job: OwnedJobDep, caller: CallerDep, jobs: JobStoreDep, queue: QueueDep) -> Job:
    """Cancel a queued or running job (training jobs need the admin key)."""
    if job.type == JobType.TRAINING and not caller.admin:
        raise HTTPException(403, "cancelling a training job needs an admin key")
    cancelled = jobs.cancel(job.id)
    queue.revoke(job.id)
    return view_for(caller, cancelled)


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "id,text,label,label_id,p_<label>..."}, **NOT_FOUND},
)
def read_job_result(job: OwnedJobDep, store: StoreDep) -> Response:
    """The predictions of a finished batch job, as CSV."""
    if job.type != JobType.BATCH:
        raise ConflictError(f"job {job.id} is a {job.type} job; only batch jobs have a CSV result")
    if job.state != JobState.SUCCEEDED:
        raise ConflictError(f"job {job.id} is {job.state}; its result is ready once it succeeded")
    key = result_key(job.id)
    headers = {"Content-Disposition": f'attachment; filename="{job.id}.csv"'}
    local = store.local_path(key)
    if local is not None and local.is_file():
        return FileResponse(local, media_type="text/csv; charset=utf-8", headers=headers)
    return Response(store.get_bytes(key), media_type="text/csv; charset=utf-8", headers=headers)
