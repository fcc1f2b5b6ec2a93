"""Dependencies and their `Annotated` aliases; handlers never build clients themselves.

The accessors are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a hop of
60-100 us each (bench/bench_gateway_overhead.py), four of them on every classify. Only a dependency that
blocks (owned_job reads Redis) stays a plain function. tests/gateway/test_dependencies.py keeps it so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from agnews_core.errors import JobNotFoundError
from agnews_core.http_edge import BearerDep, identify, missing_key
from agnews_core.http_edge import require_admin as _require_admin
from agnews_core.jobs import JobStore
from agnews_core.registry import ModelRegistry
from agnews_core.schemas import Job
from agnews_core.storage import ArtifactStore
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials

from agnews_gateway.inference_client import InferenceClient
from agnews_gateway.metrics import GatewayMetrics
from agnews_gateway.ratelimit import TokenBucket
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
    limiter: TokenBucket
    metrics: GatewayMetrics


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_jobs(res: ResourcesDep) -> JobStore:
    return res.jobs


async def get_registry(res: ResourcesDep) -> ModelRegistry:
    return res.registry


async def get_store(res: ResourcesDep) -> ArtifactStore:
    return res.store


async def get_inference(res: ResourcesDep) -> InferenceClient:
    return res.inference


async def get_queue(res: ResourcesDep) -> TaskQueue:
    return res.queue


JobStoreDep = Annotated[JobStore, Depends(get_jobs)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
InferenceDep = Annotated[InferenceClient, Depends(get_inference)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]


JOB_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Caller:
    """Who is calling: a configured key's name (admin or client), or anonymous (name None)."""

    name: str | None = None
    admin: bool = False

    @property
    def owner(self) -> str:
        """What the caller's jobs record as owner ("" for anonymous callers)."""
        return self.name or ""

    def owns(self, job: Job) -> bool:
        """Admins manage every job; everyone else only their own (anonymous: anonymous jobs, by id)."""
        return self.admin or (job.owner or "") == self.owner


async def get_caller(settings: SettingsDep, creds: BearerDep) -> Caller:
    """Classify, batch and job routes: a valid key, or no key where anonymous access is allowed."""
    return caller_of(settings, creds)


def caller_of(settings: GatewaySettings, creds: HTTPAuthorizationCredentials | None) -> Caller:
    """`get_caller` as a plain function, for handlers served without dependency solving."""
    key = identify(settings.key_ring, creds)
    if key is None:
        if not settings.anonymous_allowed:
            raise missing_key("this route")
        return Caller()
    return Caller(key.name, key.admin)


async def require_admin(settings: SettingsDep, creds: BearerDep) -> Caller:
    """An admin key: 401 without a key, 403 with any other."""
    key = _require_admin(settings.key_ring, creds)
    return Caller(key.name, admin=True)


CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(require_admin)]


def owned_job(job_id: str, jobs: JobStoreDep, caller: CallerDep) -> Job:
    """The job if the caller may see it; others' jobs are 404 exactly like missing ones (ids leak nothing)."""
    if not JOB_ID.fullmatch(job_id):  # never a Redis key built from arbitrary bytes
        raise JobNotFoundError("no job with that id (job ids are 32 hex digits)")
    job = jobs.get(job_id)
    if not caller.owns(job):
        raise JobNotFoundError(f"no job with id {job_id!r} (unknown, or expired)")
    return job


OwnedJobDep = Annotated[Job, Depends(owned_job)]


async def named_caller(caller: CallerDep) -> Caller:
    """Listing needs an identity: anonymous callers use their jobs by id only."""
    if caller.name is None:
        raise HTTPException(
            401,
            "listing jobs needs an API key: send 'Authorization: Bearer <key>' (anonymous callers use a job by its id)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


NamedCallerDep = Annotated[Caller, Depends(named_caller)]
