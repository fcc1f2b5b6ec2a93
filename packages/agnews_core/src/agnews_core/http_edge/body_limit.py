"""A body limit that counts bytes as they stream (chunked or not) and answers 413 at the limit.

Pure ASGI, no buffering: a declared Content-Length over the limit is refused before one byte is read; any
other body is counted chunk by chunk as the app pulls it, and the pull that crosses the limit raises, so an
oversized body is never held in memory, parsed or forwarded. (Starlette's HTTPException subclass: FastAPI's
body reading lets it through, and the app's handler renders it like every other error.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

from agnews_core.http_edge.asgi import send_json_error

Scope = dict[str, Any]


class BodyTooLargeError(StarletteHTTPException):
    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            413, f"request body larger than {limit} bytes (the limit, {setting})", headers={"Connection": "close"}
        )


class StreamingBodyLimit:
    """`limit_for(scope)` -> (bytes allowed, the setting that says so, named in the 413 detail)."""

    def __init__(self, app: Any, limit_for: Callable[[Scope], tuple[int, str]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit_for(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._reject(send, limit, setting)
                return
        received = 0
        started = False

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit, setting)
            return message

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLargeError:
            if started:  # the app answered already and then read on; nothing more to say
                return
            await self._reject(send, limit, setting)

    async def _reject(self, send: Any, limit: int, setting: str) -> None:
        await send_json_error(send, 413, BodyTooLargeError(limit, setting).detail, [(b"connection", b"close")])
