"""The ASGI level under FastAPI: errors sent straight on the channel, for the checks that run before routing (rate
limit, body limit, admission), with the same `{"detail": "..."}` body the error handlers give, for a fraction of
their cost; and hot routes served by their handler alone (`serve_bare`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match, Route


async def send_json_error(send: Any, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """One complete error response: status, {"detail": detail}, the given extra headers."""
    payload = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


Handler = Callable[[Request], Awaitable[Response]]


class BareEndpoint:
    """One route's handler run as a plain ASGI app: no dependency solving, no FastAPI request wrapping.

    What it raises reaches the app's error handlers all the same (Starlette's exception middleware wraps the
    router), so the answers are the shared table's.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)


class _BareRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's do: request metrics label by its template."""

    def matches(self, scope: Any) -> tuple[Match, Any]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_bare(app: FastAPI, router: APIRouter, path: str, method: str, handler: Handler) -> None:
    """Answer `method path` with `handler` directly, ahead of the declared route (which keeps the OpenAPI entry).

    For the hot routes: FastAPI's per-request dependency solving and wrapping cost a sizeable share of a request
    on a 2-core box (bench/bench_gateway_overhead.py), for routes whose handler needs none of it. The router
    tries routes in order, so the bare one, first, takes every such request; other methods still fall through
    to the declared route's 405. `router` is where the route is declared (checked, so the schema has it).
    """
    if not any(isinstance(r, APIRoute) and r.path == path and method in (r.methods or ()) for r in router.routes):
        raise LookupError(f"no declared route {method} {path}: declare it first, for the schema")
    app.router.routes.insert(0, _BareRoute(path, BareEndpoint(handler), methods=[method], include_in_schema=False))
