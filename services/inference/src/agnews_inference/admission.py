"""Admission at the door: past capacity, POST /v1/classify is answered 429 before it is routed, read or parsed.

Past capacity most requests are refused, and clients that ignore Retry-After send the next one at once. Each
refusal that went through routing, body parsing and the exception handlers cost about a millisecond of
event-loop CPU on this project's 2-core machines: taken from the forward passes and from sending the answers
of the requests that were admitted, whose latency is the figure that matters then (bench/bench_serving.py,
c128). Refused here it skips all of that (about 70 us of this middleware's own time on that machine, py-spy).
The batcher still checks every request it queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agnews_core.http_edge import send_json_error

from agnews_inference.batcher import MicroBatcher

PATH = "/v1/classify"


@dataclass(frozen=True)
class RouteLabel:
    """What the request metrics read as the route of an answer given before routing (its template)."""

    path: str


class AdmissionGate:
    """Pure ASGI: sheds classify requests while the batcher's queued work is over its limit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.route = RouteLabel(PATH)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            batcher: MicroBatcher | None = getattr(scope["app"].state, "batcher", None)
            refusal = batcher.refuse_early() if batcher is not None else None
            if refusal is not None:
                scope["route"] = self.route
                retry = str(max(1, round(refusal.retry_after_s))).encode()  # as the error handlers write it
                await send_json_error(send, 429, str(refusal), [(b"retry-after", retry)])
                return
        await self.app(scope, receive, send)
