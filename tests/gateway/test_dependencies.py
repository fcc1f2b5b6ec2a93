"""The classify paths run no dependency in FastAPI's thread pool: each plain `def` dependency costs a thread hop
per request (see agnews_gateway.deps), and on the hottest routes those hops were most of what is left to cut."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from calls(sub)


def route_of(router: APIRouter, path: str, method: str) -> APIRoute:
    (route,) = [r for r in router.routes if isinstance(r, APIRoute) and r.path == path and method in r.methods]
    return route


def blocking(router: APIRouter, path: str, method: str) -> list[str]:
    """Names of the dependencies of `method path` that FastAPI would run in its thread pool."""
    route = route_of(router, path, method)
    out = []
    for call in calls(route.dependant):
        target = call if inspect.isfunction(call) else type(call).__call__
        if not inspect.iscoroutinefunction(target):
            out.append(getattr(call, "__name__", type(call).__name__))
    return out


@pytest.mark.parametrize(
    ("module", "path", "method"),
    [
        ("classify", "/v1/classify", "POST"),
        ("feedback", "/v1/feedback", "POST"),
        ("monitoring", "/v1/monitoring", "GET"),
    ],
)
def test_gateway_hot_routes_have_no_thread_pool_dependencies(module: str, path: str, method: str) -> None:
    routes = importlib.import_module(f"agnews_gateway.routes.{module}")
    assert inspect.iscoroutinefunction(route_of(routes.router, path, method).endpoint)
    assert blocking(routes.router, path, method) == []


def test_a_dependency_that_blocks_is_seen() -> None:
    """The check itself can fail: the job route's owned_job reads Redis and is (rightly) a plain function."""
    from agnews_gateway.routes import jobs

    assert blocking(jobs.router, "/v1/jobs/{job_id}", "GET") == ["owned_job"]


def test_inference_classify_has_no_thread_pool_dependencies() -> None:
    from agnews_inference.routes import classify

    assert inspect.iscoroutinefunction(route_of(classify.router, "/v1/classify", "POST").endpoint)
    assert blocking(classify.router, "/v1/classify", "POST") == []
