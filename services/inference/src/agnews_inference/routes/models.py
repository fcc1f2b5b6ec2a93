"""The served model: what it is, and POST /v1/reload (admin) to follow a new champion now."""

from __future__ import annotations

import asyncio

from agnews_core.errors import NotReadyError
from fastapi import APIRouter
from pydantic import BaseModel

from agnews_inference.deps import AdminDep, ModelServerDep

router = APIRouter(prefix="/v1", tags=["model"])


class ServedModel(BaseModel):
    model_version: str
    kind: str
    backend: str
    labels: list[str]


class ReloadResponse(BaseModel):
    model_version: str
    previous_version: str | None
    changed: bool


@router.get("/model", response_model=ServedModel)
async def read_model(server: ModelServerDep) -> ServedModel:
    """The model answering /v1/classify now."""
    model = server.current
    if model is None:
        raise NotReadyError(f"no model loaded yet: {server.not_ready_reason}")
    return ServedModel(
        model_version=model.version, kind=model.kind, backend=model.backend, labels=list(model.label_names)
    )


@router.post("/reload", response_model=ReloadResponse)
async def create_reload(_: AdminDep, server: ModelServerDep) -> ReloadResponse:
    """Check the champion alias now; load and switch to a new one (old one serves meanwhile)."""
    # Shielded: a client that hangs up must not abandon a load half way (the poller would only redo it).
    outcome = await asyncio.shield(server.load(force=True))
    return ReloadResponse(
        model_version=outcome.model_version, previous_version=outcome.previous_version, changed=outcome.changed
    )
