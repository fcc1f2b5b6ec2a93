"""Where the gateway's added latency goes, piece by piece, for one short article on /v1/classify.

`make bench-serving` measures the total (c1 p50 through the gateway minus direct). This times, in one
process and one after another, each thing the gateway does on top of the forward: parsing + validating the
body (pydantic), re-encoding it (model_dump_json), a sync dependency's hop to the thread pool (FastAPI runs
`def` dependencies there), the rate limiter's Redis round trip (INCR + EXPIRE pipeline), and the HTTP hop to
inference with the gateway's httpx client (against a server answering fixed bytes, so no model time).

    .venv/bin/python bench/bench_gateway_overhead.py [--n 2000] [--redis redis://127.0.0.1:6379/0]

Figures are medians in microseconds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

ARTICLE = {
    "articles": [
        {
            "title": "Stocks rally as the central bank cuts rates",
            "description": "Shares rose on Wall Street after the Federal Reserve lowered its key rate, lifting "
            "banks and technology companies in late trading on Tuesday.",
        }
    ]
}
ANSWER = (
    b'{"model_version":"v1","predictions":[{"label":"Business","label_id":3,"scores":{"World":0.01,'
    b'"Sports":0.01,"Business":0.97,"Sci/Tech":0.01}}]}'
)


def median_us(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return round(statistics.median(samples) * 1e6, 1)


async def amedian_us(fn: Callable[[], Awaitable[object]], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t)
    return round(statistics.median(samples) * 1e6, 1)


def fixed_answer_server() -> tuple[Any, str]:
    """A uvicorn server answering ANSWER to any request: the HTTP hop without any model work."""
    import uvicorn
    from stack import free_port

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


async def hops(url: str, n: int, redis_url: str) -> dict[str, float | None]:
    import anyio
    import httpx

    body = json.dumps(ARTICLE).encode()
    figures: dict[str, float | None] = {}
    figures["threadpool_hop_us"] = await amedian_us(lambda: anyio.to_thread.run_sync(lambda: None), n)
    async with httpx.AsyncClient(base_url=url) as client:
        await client.post("/v1/classify", content=body)
        figures["httpx_post_fixed_answer_us"] = await amedian_us(
            lambda: client.post("/v1/classify", content=body, headers={"content-type": "application/json"}), n
        )
    reader, writer = await asyncio.open_connection(*url.removeprefix("http://").split(":"))
    raw = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
    raw += str(len(body)).encode() + b"\r\n\r\n" + body

    async def raw_post() -> None:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))

    figures["raw_socket_post_fixed_answer_us"] = await amedian_us(raw_post, n)
    writer.close()
    try:
        import redis

        r = redis.Redis.from_url(redis_url)
        r.ping()

        def limiter_hit() -> None:
            pipe = r.pipeline(transaction=False)
            pipe.incr("agnews:bench:rl")
            pipe.expire("agnews:bench:rl", 61)
            pipe.execute()

        figures["redis_rate_limit_round_trip_us"] = median_us(limiter_hit, n)
        r.delete("agnews:bench:rl")
    except Exception:  # no Redis here: say so rather than guess
        figures["redis_rate_limit_round_trip_us"] = None
    return figures


def main() -> None:
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="repetitions per piece (median taken)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from agnews_core.schemas import ClassifyRequest

    body = json.dumps(ARTICLE).encode()
    parsed = ClassifyRequest.model_validate_json(body)
    figures: dict[str, float | None] = {
        "validate_json_us": median_us(lambda: ClassifyRequest.model_validate_json(body), args.n),
        "reencode_json_us": median_us(lambda: parsed.model_dump_json(exclude_none=True).encode(), args.n),
    }
    server, url = fixed_answer_server()
    try:
        figures |= asyncio.run(hops(url, args.n, args.redis))
    finally:
        server.should_exit = True
    if figures["httpx_post_fixed_answer_us"] and figures["raw_socket_post_fixed_answer_us"]:
        figures["httpx_client_cost_us"] = round(
            figures["httpx_post_fixed_answer_us"] - figures["raw_socket_post_fixed_answer_us"], 1
        )
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name.ljust(width)}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
