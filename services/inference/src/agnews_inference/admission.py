"""Admission at the door: past capacity, POST /v1/classify is answered 429 before it is routed, read or parsed.

Past capacity most requests are refused, and clients that ignore Retry-After send the next one at once. A
refusal that went through routing, body parsing and the exception handlers cost about 0.7 ms of event-loop
CPU on an AVX2 2-core machine (py-spy, c128: the loop at 100 % of a core for about 1,460 refusals/s, most of
them still refused inside the route): taken from the forward passes and from sending the answers of the
admitted requests, whose latency is the figure that matters then. Refused here, a request skips all of that
(about 70 us of this middleware's own time on that machine).
The batcher still checks every request it queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agnews_core.http_edge import retry_after, send_json_error

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
                await send_json_error(send, 429, str(refusal), [(b"retry-after", retry_after(refusal).encode())])
                return
        await self.app(scope, receive, send)
