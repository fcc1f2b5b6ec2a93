"""POST /v1/classify: validated here, answered by the inference service (never through Celery)."""

from __future__ import annotations

from agnews_core.http_edge import bearer_from_header, json_body, openapi_body
from agnews_core.schemas import ClassifyRequest, ClassifyResponse
from fastapi import APIRouter, Request, Response

from agnews_gateway.deps import CallerDep, InferenceDep, Resources, caller_of
from agnews_gateway.settings import GatewaySettings

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
async def classify(request: Request, _inference: InferenceDep, _caller: CallerDep) -> Response:
    """Classify texts or articles into World, Sports, Business or Sci/Tech."""
    # The declaration (its dependencies put the key scheme in the schema); requests are served by `answer`
    # directly (main.py: serve_bare), without FastAPI's per-request dependency solving.
    return await answer(request)


async def answer(request: Request) -> Response:
    """The classify route's work: the caller's key, the body validated by hand, the bytes sent on to inference."""
    settings: GatewaySettings = request.app.state.settings
    caller_of(settings, bearer_from_header(request.headers.get("authorization")))
    # Validated by hand (agnews_core.http_edge.json_body), then sent on as the bytes it came in: inference
    # validates it with the same schema, so re-encoding it here would only cost time.
    await json_body(request, ClassifyRequest)
    resources: Resources = request.app.state.resources
    body = await resources.inference.classify(await request.body())
    return Response(body, media_type="application/json")
