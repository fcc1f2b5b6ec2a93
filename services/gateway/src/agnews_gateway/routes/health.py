"""Liveness, readiness (Redis and inference) and Prometheus metrics."""

from __future__ import annotations

from agnews_core.errors import NotReadyError
from agnews_core.http_metrics import metrics_response_body
from agnews_core.jobs import JobStoreUnavailableError
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import ResourcesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis or inference is down (the detail names which)"}})
async def readyz(res: ResourcesDep) -> dict[str, str]:
    """Ready when Redis answers and the inference service is ready."""
    problems = []
    try:
        await run_in_threadpool(res.jobs.ping)
    except JobStoreUnavailableError as exc:
        problems.append(str(exc))
    inference = await res.inference.ready()
    if inference:
        problems.append(inference)
    if problems:
        raise NotReadyError("not ready: " + "; ".join(problems))
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
def metrics(res: ResourcesDep) -> Response:
    body, content_type = metrics_response_body(res.metrics.registry)
    return Response(body, media_type=content_type)
