"""Dependencies and their `Annotated` aliases; handlers never build clients themselves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from agnews_core.errors import OverloadedError
from agnews_core.jobs import JobStore
from agnews_core.registry import ModelRegistry
from agnews_core.storage import ArtifactStore
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agnews_gateway.inference_client import InferenceClient
from agnews_gateway.metrics import GatewayMetrics
from agnews_gateway.ratelimit import RateLimiter
from agnews_gateway.settings import GatewaySettings
from agnews_gateway.task_queue import TaskQueue


@dataclass
class Resources:
    """What the lifespan opens and closes."""

    jobs: JobStore
    store: ArtifactStore
    registry: ModelRegistry
    inference: InferenceClient
    queue: TaskQueue
    limiter: RateLimiter
    metrics: GatewayMetrics


def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_jobs(res: ResourcesDep) -> JobStore:
    return res.jobs


def get_registry(res: ResourcesDep) -> ModelRegistry:
    return res.registry


def get_store(res: ResourcesDep) -> ArtifactStore:
    return res.store


def get_inference(res: ResourcesDep) -> InferenceClient:
    return res.inference


def get_queue(res: ResourcesDep) -> TaskQueue:
    return res.queue


JobStoreDep = Annotated[JobStore, Depends(get_jobs)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
InferenceDep = Annotated[InferenceClient, Depends(get_inference)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _missing_key(what: str) -> HTTPException:
    return HTTPException(
        401, f"{what} needs an API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
    )


def require_admin(settings: SettingsDep, creds: BearerDep) -> str:
    """The admin key used; 401 without a key, 403 with a wrong one."""
    if creds is None or not creds.credentials:
        raise _missing_key("this admin route")
    if not settings.is_admin_key(creds.credentials):
        raise HTTPException(403, "this API key is not an admin key")
    return creds.credentials


def require_client_key(settings: SettingsDep, creds: BearerDep) -> str | None:
    """Classify and batch routes: open unless GATEWAY_CLASSIFY_KEYS is set."""
    if not settings.classify_key_list:
        return None
    if creds is None or not creds.credentials:
        raise _missing_key("this route")
    if not settings.is_classify_key(creds.credentials):
        raise HTTPException(403, "this API key is not valid for this route")
    return creds.credentials


def client_id(request: Request, settings: GatewaySettings, creds: HTTPAuthorizationCredentials | None) -> str:
    """Who a request counts against: its API key (hashed) when it sends one, else its address."""
    if creds is not None and creds.credentials:
        return "key:" + hashlib.sha256(creds.credentials.encode()).hexdigest()[:16]
    forwarded = request.headers.get("x-forwarded-for") if settings.trust_forwarded_for else None
    if forwarded:
        return "ip:" + forwarded.split(",")[0].strip()
    return "ip:" + (request.client.host if request.client else "unknown")


def rate_limit(request: Request, settings: SettingsDep, res: ResourcesDep, creds: BearerDep) -> None:
    retry_after = res.limiter.hit(client_id(request, settings, creds))
    if retry_after is not None:
        raise OverloadedError(
            f"rate limit of {settings.rate_limit_per_minute} requests per minute exceeded; retry in "
            f"{round(retry_after)} s",
            retry_after_s=retry_after,
        )


AdminDep = Annotated[str, Depends(require_admin)]
ClientKeyDep = Annotated[str | None, Depends(require_client_key)]
