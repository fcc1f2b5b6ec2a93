"""GET /v1/monitoring: the current figures of the model in production, for the page's Monitor tab."""

from __future__ import annotations

from agnews_core.schemas import MonitoringSummary
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import CallerDep
from agnews_gateway.monitoring import MonitoringDep

router = APIRouter(prefix="/v1", tags=["monitoring"])


@router.get("/monitoring", response_model=MonitoringSummary)
async def read_monitoring(monitoring: MonitoringDep, _caller: CallerDep) -> MonitoringSummary:
    """Live accuracy per model version, feedback counts, the champion's drift and its recent history."""
    return await run_in_threadpool(monitoring.summary)
