"""Prometheus exposition of this app's registry."""

from __future__ import annotations

from agnews_core.http_metrics import metrics_response_body
from fastapi import APIRouter, Response

from agnews_inference.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def read_metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    body, content_type = metrics_response_body(metrics.registry)
    return Response(body, media_type=content_type)
