"""The shadow challenger (admin): put a registered version in shadow, see it, stop it."""

from __future__ import annotations

import logging

from agnews_core.errors import ConflictError, NotFoundError
from agnews_core.schemas import ShadowRequest, ShadowView
from agnews_core.shadow import clear_shadow, write_shadow
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from agnews_gateway.deps import AdminDep, RegistryDep
from agnews_gateway.monitoring import MonitoringDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/shadow", response_model=ShadowView | None)
async def read_shadow_model(monitoring: MonitoringDep) -> ShadowView | None:
    """The version in shadow now (null when none), with its agreement with the champion so far."""
    champion = await run_in_threadpool(monitoring.champion)
    return await run_in_threadpool(monitoring.shadow_view, champion)


@router.post("/{version}/shadow", response_model=ShadowView, responses={404: {}, 409: {}})
async def create_shadow(
    version: str, registry: RegistryDep, monitoring: MonitoringDep, _admin: AdminDep, body: ShadowRequest | None = None
) -> ShadowView:
    """Score a share of live traffic with `version` too, in the background (the champion still answers)."""
    try:
        await run_in_threadpool(registry.get, version)  # 404 for an unknown version
    except ValueError:  # not even a valid key ("..")
        raise NotFoundError(f"no model version {version!r}") from None
    champion = await run_in_threadpool(monitoring.champion)
    if version == champion:
        raise ConflictError(f"{version} is the champion; a shadow must be another version")
    share = (body or ShadowRequest()).share
    config = await run_in_threadpool(write_shadow, registry.store, version, share)
    log.info("shadow is now %s (share %.2f)", config.version, config.share)
    return ShadowView(version=config.version, share=config.share, updated_at=config.updated_at)


@router.delete("/{version}/shadow", status_code=204, responses={404: {}})
async def delete_shadow(version: str, registry: RegistryDep, monitoring: MonitoringDep, _admin: AdminDep) -> Response:
    """Stop scoring traffic with `version`."""
    view = await run_in_threadpool(monitoring.shadow_view, None)
    if view is None or view.version != version:
        raise NotFoundError(f"{version} is not in shadow")
    await run_in_threadpool(clear_shadow, registry.store)
    return Response(status_code=204)
