"""Answers sent straight on the ASGI channel, for the checks that run before routing (rate limit, body limit,
admission): the same `{"detail": "..."}` body the error handlers give, for a fraction of their cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


async def send_json_error(send: Any, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """One complete error response: status, {"detail": detail}, the given extra headers."""
    payload = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})
