"""Liveness, readiness (Redis and inference) and Prometheus metrics."""

from __future__ import annotations

from agnews_core.errors import NotReadyError
from agnews_core.http_metrics import metrics_response_body
from agnews_core.jobs import JobStoreUnavailableError
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import Resources, ResourcesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def _problems(res: Resources) -> list[tuple[str, str]]:
    """(component, why) for each dependency that is not ready."""
    problems = []
    try:
        await run_in_threadpool(res.jobs.ping)
    except JobStoreUnavailableError as exc:
        problems.append(("the job store", str(exc)))
    inference = await res.inference.ready()
    if inference:
        problems.append(("the inference service", inference))
    return problems


@router.get(
    "/readyz",
    include_in_schema=False,
    responses={503: {"description": "Redis or inference is down (the detail names which, with addresses)"}},
)
async def readyz(res: ResourcesDep) -> dict[str, str]:
    """Ready when Redis answers and the inference service is ready (internal: probes only)."""
    problems = await _problems(res)
    if problems:
        raise NotReadyError("not ready: " + "; ".join(why for _, why in problems))
    return {"status": "ready"}


@router.get("/v1/status", tags=["health"], responses={503: {"description": "a dependency is down (named, no address)"}})
async def read_status(res: ResourcesDep) -> dict[str, str]:
    """Public readiness for the page: which part is down, without internal addresses."""
    problems = await _problems(res)
    if problems:
        raise NotReadyError("not ready: " + "; ".join(f"{what} is unavailable" for what, _ in problems))
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
def metrics(res: ResourcesDep) -> Response:
    body, content_type = metrics_response_body(res.metrics.registry)
    return Response(body, media_type=content_type)
