"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agnews_inference.deps import ModelServerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def read_health() -> dict[str, str]:
    """Alive: the process answers (the model may still be loading)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def read_readiness(server: ModelServerDep) -> dict[str, str] | JSONResponse:
    """Ready once a model is loaded and warmed up; 503 with the reason before that."""
    if server.current is None:
        return JSONResponse({"detail": f"not ready: {server.not_ready_reason}"}, status_code=503)
    return {"status": "ready", "model_version": server.current.version}
