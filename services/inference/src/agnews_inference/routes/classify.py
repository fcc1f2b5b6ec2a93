"""POST /v1/classify: texts or articles in, one prediction per item, in input order."""

from __future__ import annotations

from collections import Counter

from agnews_core.errors import PayloadTooLargeError
from agnews_core.schemas import ClassifyRequest, ClassifyResponse, Prediction
from fastapi import APIRouter

from agnews_inference.batcher import BatchResult
from agnews_inference.deps import BatcherDep, MetricsDep, PredictionLogDep, SettingsDep

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post("/classify", response_model=ClassifyResponse)
async def create_classification(
    body: ClassifyRequest,
    settings: SettingsDep,
    batcher: BatcherDep,
    metrics: MetricsDep,
    prediction_log: PredictionLogDep,
) -> ClassifyResponse:
    """Classify up to INFERENCE_MAX_ITEMS texts or articles (model input longer than INFERENCE_MAX_CHARS is cut)."""
    count = body.items_count()
    if count > settings.max_items:
        raise PayloadTooLargeError(
            f"{count} items in one request; the limit is {settings.max_items} (INFERENCE_MAX_ITEMS): split it "
            "or use a batch job"
        )
    inputs = [text[: settings.max_chars] for text in body.model_inputs()]
    result = await batcher.submit(inputs)
    response = to_response(result)
    prediction_log.stamp(response, result.probs, inputs)  # the monitoring seam: ids now, the rest in a thread
    for label, n in Counter(p.label for p in response.predictions).items():
        metrics.predictions.labels(label).inc(n)
    return response


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
