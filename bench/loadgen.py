"""A small closed-loop HTTP/1.1 load generator that keeps each request's status and latency.

wrk reports one latency distribution over every answer, 429s included; past capacity the figure that
matters is the latency of the *answered* requests, and the count of errors that are not 429. This keeps
both. Keep-alive connections, pre-encoded requests, asyncio streams (uvloop when installed): about 30 us
of client CPU per request, 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tally:
    latencies_ok: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0

    def summary(self, seconds: float) -> dict[str, float | int]:
        ok = np.array(self.latencies_ok) * 1000
        shed = self.statuses.get(429, 0)
        non429 = sum(n for s, n in self.statuses.items() if s >= 400 and s != 429) + self.socket_errors
        return {
            "answered": len(ok),
            "answered_per_s": round(len(ok) / seconds, 1),
            "shed_429": shed,
            "shed_per_s": round(shed / seconds, 1),
            "errors_non429": non429,
            "p50_ms_answered": round(float(np.percentile(ok, 50)), 2) if len(ok) else None,  # type: ignore[dict-item]
            "p99_ms_answered": round(float(np.percentile(ok, 99)), 2) if len(ok) else None,  # type: ignore[dict-item]
        }


def encode_requests(host: str, path: str, bodies: list[bytes]) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: "
    return [head.encode() + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]


async def _connection(
    host: str, port: int, requests: list[bytes], start: int, until: float, tally: Tally, honor_retry_after: bool
) -> None:
    reader = writer = None
    i = start
    while time.perf_counter() < until:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally.socket_errors += 1
                await asyncio.sleep(0.05)
                continue
        assert reader is not None
        request = requests[i % len(requests)]
        i += 1
        sent = time.perf_counter()
        try:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            if length:
                await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            tally.socket_errors += 1
            writer.close()
            writer = None
            continue
        elapsed = time.perf_counter() - sent
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            tally.latencies_ok.append(elapsed)
        if b"connection: close" in lower:
            writer.close()
            writer = None
        if status == 429 and honor_retry_after:
            at = lower.find(b"retry-after:")
            wait = float(head[at + 12 : head.index(b"\r\n", at)]) if at >= 0 else 1.0
            await asyncio.sleep(min(wait, max(0.0, until - time.perf_counter())))
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _run(
    url: str, bodies: list[bytes], concurrency: int, seconds: float, honor_retry_after: bool
) -> dict[str, float | int]:
    hostport = url.removeprefix("http://").rstrip("/")
    host, port = hostport.rsplit(":", 1)
    requests = encode_requests(hostport, "/v1/classify", bodies)
    tally = Tally()
    until = time.perf_counter() + seconds
    step = max(1, len(requests) // concurrency)
    await asyncio.gather(
        *(_connection(host, int(port), requests, c * step, until, tally, honor_retry_after) for c in range(concurrency))
    )
    return tally.summary(seconds)


def closed_loop(
    url: str, bodies: list[bytes], concurrency: int, seconds: float, *, honor_retry_after: bool = False
) -> dict[str, float | int]:
    """`concurrency` connections each sending the next body as soon as the previous answer arrived."""
    work = _run(url, bodies, concurrency, seconds, honor_retry_after)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.run(work)
    return uvloop.run(work)
