"""The served model: what it is, and POST /v1/reload (admin) to follow a new champion now."""

from __future__ import annotations

import asyncio
import logging
import time

from agnews_core.errors import AgnewsError, NotFoundError, NotReadyError, PromotionRefusedError, StorageError
from fastapi import APIRouter
from pydantic import BaseModel

from agnews_inference.deps import AdminDep, ModelServerDep, SettingsDep
from agnews_inference.loader import load_model

logger = logging.getLogger(__name__)

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


class CheckResponse(BaseModel):
    model_version: str
    kind: str
    backend: str
    seconds: float


@router.post(
    "/models/{version}/check",
    response_model=CheckResponse,
    responses={409: {"description": "this version cannot be loaded or does not answer"}},
)
async def create_model_check(version: str, _: AdminDep, server: ModelServerDep, settings: SettingsDep) -> CheckResponse:
    """Load, warm up and run a version without serving it: what a promotion asks before moving the alias."""
    started = time.perf_counter()
    try:
        loaded = await asyncio.to_thread(load_model, server.registry, version, settings)
    except (NotFoundError, StorageError):
        raise  # unknown version, or the store is down: not a verdict on the model
    except Exception as exc:  # whatever a broken artifact raises, the answer is "cannot be served"
        logger.warning("load check of %s failed: %s", version, exc)
        reason = str(exc) if isinstance(exc, AgnewsError) else f"{type(exc).__name__}: {exc}"
        raise PromotionRefusedError(f"model {version} cannot be served: {reason}"[:1000]) from None
    return CheckResponse(
        model_version=loaded.version,
        kind=loaded.kind,
        backend=loaded.backend,
        seconds=round(time.perf_counter() - started, 3),
    )


@router.post("/reload", response_model=ReloadResponse)
async def create_reload(_: AdminDep, server: ModelServerDep) -> ReloadResponse:
    """Check the champion alias now; load and switch to a new one (old one serves meanwhile)."""
    # Shielded: a client that hangs up must not abandon a load half way (the poller would only redo it).
    outcome = await asyncio.shield(server.load(force=True))
    return ReloadResponse(
        model_version=outcome.model_version, previous_version=outcome.previous_version, changed=outcome.changed
    )
