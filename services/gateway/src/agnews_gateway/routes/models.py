"""The model registry as the public API shows it: versions, champion, promote and rollback."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from agnews_core.errors import ModelNotFoundError
from agnews_core.schemas import ChampionResponse, ModelInfo, ModelList
from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import AdminDep, CallerDep, InferenceDep, RegistryDep, SettingsDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"])

# what the registry's version names look like (v20261126T005100-minilm-3fa9c1); anything else (".", "..",
# NUL, slashes) never reaches the store: it names no version, so 404 like any unknown one
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def known_shape(version: str) -> str:
    if not VERSION.fullmatch(version) or ".." in version:
        raise ModelNotFoundError("no model version by that name")
    return version


VersionDep = Annotated[str, Depends(known_shape)]


@router.get("", response_model=ModelList)
def list_models(registry: RegistryDep, _caller: CallerDep) -> ModelList:
    """Every model version (newest first) with its metrics, and which one is champion."""
    alias = registry.champion()
    champion = alias.version if alias else None
    models = [
        ModelInfo(
            version=m.version,
            kind=m.kind,
            preset=m.preset,
            created_at=m.created_at,
            is_champion=m.version == champion,
            metrics=m.metrics,
        )
        for m in reversed(registry.list_versions())
    ]
    return ModelList(champion=champion, models=models)


@router.get(
    "/{version}/confusion-matrix.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "no such version or no image"}},
)
def read_confusion_matrix(version: VersionDep, registry: RegistryDep, _caller: CallerDep) -> Response:
    """The test-set confusion matrix of a version, as PNG."""
    return Response(registry.read_file(version, "confusion_matrix.png"), media_type="image/png")


async def _tell_inference(inference: InferenceDep, settings: SettingsDep) -> None:
    key = settings.inference_admin_key.get_secret_value()
    if key:
        await inference.reload(key)


@router.post(
    "/{version}/promote",
    response_model=ChampionResponse,
    responses={
        404: {"description": "no such version"},
        409: {"description": "inference could not load or run this version; the champion is unchanged"},
    },
)
async def promote_model(
    version: VersionDep, registry: RegistryDep, inference: InferenceDep, settings: SettingsDep, _admin: AdminDep
) -> ChampionResponse:
    """Make a version the champion, once inference loaded and ran it (it then follows the alias)."""
    await run_in_threadpool(registry.get, version)  # 404 for an unknown version, before any load
    key = settings.inference_admin_key.get_secret_value()
    if key:  # without inference's admin key there is no one to ask: the alias moves unchecked (logged)
        await inference.check_model(version, key, settings.promote_check_timeout_s)
    else:
        log.warning("promoting %s without a load check: GATEWAY_INFERENCE_ADMIN_KEY is not set", version)
    alias = await run_in_threadpool(registry.promote, version, "promoted through the gateway")
    log.info("champion is now %s (promoted)", alias.version)
    await _tell_inference(inference, settings)
    return ChampionResponse(champion=alias.version)


@router.post("/rollback", response_model=ChampionResponse, responses={409: {"description": "no previous champion"}})
async def rollback_model(
    registry: RegistryDep, inference: InferenceDep, settings: SettingsDep, _admin: AdminDep
) -> ChampionResponse:
    """Make the previous champion the champion again."""
    alias = await run_in_threadpool(registry.rollback)
    log.info("champion is now %s (rollback)", alias.version)
    await _tell_inference(inference, settings)
    return ChampionResponse(champion=alias.version)
