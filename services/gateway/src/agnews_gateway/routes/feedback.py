"""POST /v1/feedback: the true class of a served prediction, for live accuracy and retraining."""

from __future__ import annotations

import asyncio
import dataclasses

from agnews_core.errors import NotFoundError
from agnews_core.schemas import FeedbackRequest, FeedbackResponse
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import CallerDep
from agnews_gateway.monitoring import MonitoringDep

router = APIRouter(prefix="/v1", tags=["monitoring"])
INDEX_GRACE_S = 0.25  # well above inference's INDEX_DELAY_S plus a Redis round trip


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={
        404: {"description": "no such prediction_id (unknown, not sampled, or too old)"},
        422: {"description": "the label is not one of the four classes"},
    },
)
async def create_feedback(body: FeedbackRequest, monitoring: MonitoringDep, _caller: CallerDep) -> FeedbackResponse:
    """Record the true label of a prediction; repeated feedback for one id replaces the earlier one."""
    try:
        outcome = await run_in_threadpool(monitoring.record_feedback, body.prediction_id, body.label)
    except NotFoundError:
        # Inference indexes predictions in batches a few tens of milliseconds after answering; a client
        # that sends feedback at once gets one more look rather than a 404 for its own prediction.
        await asyncio.sleep(INDEX_GRACE_S)
        outcome = await run_in_threadpool(monitoring.record_feedback, body.prediction_id, body.label)
    return FeedbackResponse(**dataclasses.asdict(outcome))
