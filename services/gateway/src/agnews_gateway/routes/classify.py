"""POST /v1/classify: validated here, answered by the inference service (never through Celery)."""

from __future__ import annotations

from agnews_core.http_edge import json_body, openapi_body
from agnews_core.schemas import ClassifyRequest, ClassifyResponse
from fastapi import APIRouter, Request, Response

from agnews_gateway.deps import CallerDep, InferenceDep

router = APIRouter(prefix="/v1", tags=["classify"])

EXAMPLE = {
    "model_version": "v20261126T005100-minilm-3fa9c1",
    "predictions": [
        {
            "label": "Sports",
            "label_id": 2,
            "scores": {"World": 0.01, "Sports": 0.97, "Business": 0.01, "Sci/Tech": 0.01},
        }
    ],
}


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    openapi_extra=openapi_body(ClassifyRequest),
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        401: {"description": "an API key is needed (anonymous access is off)"},
        413: {"description": "too many items or too large a body"},
        415: {"description": "a body declared as something other than JSON"},
        422: {"description": "invalid request, or a text with nothing left once cleaned"},
        429: {"description": "rate limit, or the inference queue is full (see Retry-After)"},
        503: {"description": "the inference service is down or still loading a model"},
    },
)
async def classify(request: Request, inference: InferenceDep, _caller: CallerDep) -> Response:
    """Classify texts or articles into World, Sports, Business or Sci/Tech."""
    # Validated by hand (the hot path: agnews_core.http_edge.json_body), then sent on as the bytes it came in:
    # inference validates it with the same schema, so re-encoding it here would only cost time.
    await json_body(request, ClassifyRequest)
    answer = await inference.classify(await request.body())
    return Response(answer, media_type="application/json")
