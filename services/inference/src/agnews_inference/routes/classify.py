"""POST /v1/classify: texts or articles in, one prediction per item, in input order."""

from __future__ import annotations

import asyncio
from collections import Counter

from agnews_core.errors import PayloadTooLargeError
from agnews_core.http_edge import json_body, openapi_body
from agnews_core.schemas import ClassifyRequest, ClassifyResponse, Prediction
from fastapi import APIRouter, Request, Response

from agnews_inference.batcher import BatchResult, MicroBatcher, Ticket
from agnews_inference.deps import BatcherDep, MetricsDep, PredictionLogDep, SettingsDep
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.prediction_log import PredictionLog
from agnews_inference.settings import InferenceSettings

router = APIRouter(prefix="/v1", tags=["classify"])

CLIENT_GONE = 499  # nginx's "client closed request": nobody reads it, but the access log and metrics do


@router.post("/classify", response_model=ClassifyResponse, openapi_extra=openapi_body(ClassifyRequest))
async def create_classification(
    request: Request,
    _settings: SettingsDep,
    _batcher: BatcherDep,
    _metrics: MetricsDep,
    _prediction_log: PredictionLogDep,
) -> Response:
    """Classify up to INFERENCE_MAX_ITEMS texts or articles (model input longer than INFERENCE_MAX_CHARS is cut)."""
    # The declaration; requests are served by `answer` directly (app.py: serve_bare), without FastAPI's
    # per-request dependency solving.
    return await answer(request)


async def answer(request: Request) -> Response:
    """The classify route's work: the body parsed by hand and the answer encoded once."""
    state = request.app.state
    settings: InferenceSettings = state.settings
    batcher: MicroBatcher = state.batcher
    body = await json_body(request, ClassifyRequest)
    count = body.items_count()
    if count > settings.max_items:
        raise PayloadTooLargeError(
            f"{count} items in one request; the limit is {settings.max_items} (INFERENCE_MAX_ITEMS): split it "
            "or use a batch job"
        )
    inputs = [text[: settings.max_chars] for text in body.model_inputs()]
    ticket = batcher.enqueue(inputs)  # admitted (or refused) before this request's first await
    result = await _unless_client_leaves(request, batcher, ticket)
    if result is None:
        return Response(status_code=CLIENT_GONE)
    response = to_response(result)
    # the monitoring seam: ids now, the rest in a thread
    prediction_log: PredictionLog = state.prediction_log
    prediction_log.stamp(response, result.probs, inputs, result.model.vocabulary)
    observe(state.metrics, response)
    return Response(response.model_dump_json(), media_type="application/json")


async def _unless_client_leaves(request: Request, batcher: MicroBatcher, ticket: Ticket) -> BatchResult | None:
    """The batcher's answer, or None when the client hangs up first (its queued work is then dropped).

    The body has been read by now, so the next ASGI message can only be the disconnect.
    """
    work = asyncio.ensure_future(batcher.result(ticket))
    gone = asyncio.ensure_future(request.receive())
    try:
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done() and gone.done() and not gone.cancelled() and gone.result()["type"] == "http.disconnect":
        work.cancel()  # marks the queued request abandoned: the inference thread skips it
        return None
    return await work


def observe(metrics: InferenceMetrics, response: ClassifyResponse) -> None:
    """The one place a served prediction passes after it is computed (the prediction log stamps it just before)."""
    for label, n in Counter(p.label for p in response.predictions).items():
        metrics.predictions.labels(label).inc(n)


def to_response(result: BatchResult) -> ClassifyResponse:
    names, ids = result.model.label_names, result.model.label_ids
    best = result.probs.argmax(axis=1)
    predictions = [
        Prediction(
            label=names[b],
            label_id=ids[b],
            scores={name: float(p) for name, p in zip(names, row, strict=True)},
        )
        for b, row in zip(best.tolist(), result.probs, strict=True)
    ]
    return ClassifyResponse(model_version=result.model.version, predictions=predictions)
