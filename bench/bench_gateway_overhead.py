"""Where the gateway's added latency goes, piece by piece, for one short article on /v1/classify.

`make bench-serving` measures the total (c1 p50 through the gateway minus direct). This times, in one
process and one after another, each thing the gateway does on top of the forward: parsing + validating the
body (pydantic), re-encoding it (model_dump_json), a sync dependency's hop to the thread pool (FastAPI runs
`def` dependencies there), the rate limiter's Redis round trip (INCR + EXPIRE pipeline), and the HTTP hop to
inference with httpx (the gateway's client before) and aiohttp (its client now), against a server answering
fixed bytes in another process, so no model time.

    .venv/bin/python bench/bench_gateway_overhead.py [--n 2000] [--redis redis://127.0.0.1:6379/0]

Figures are medians in microseconds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
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


async def _fixed_answer_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def fixed_answer_server() -> tuple[subprocess.Popen[bytes], str]:
    """A uvicorn process answering ANSWER to any request: the HTTP hop without any model work (a separate
    process, as inference is: in-process it would share our GIL and measure that instead)."""
    from stack import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


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
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def aio_post() -> None:
            async with session.post(url + "/v1/classify", data=body, headers=json_type) as response:
                await response.read()

        json_type = {"Content-Type": "application/json"}
        await aio_post()
        figures["aiohttp_post_fixed_answer_us"] = await amedian_us(aio_post, n)
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
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="repetitions per piece (median taken)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)  # the fixed-answer child
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        uvicorn.run(_fixed_answer_app, host="127.0.0.1", port=args.serve, log_level="warning")
        return
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
        server.terminate()
        server.wait(10)
    if figures["httpx_post_fixed_answer_us"] and figures["raw_socket_post_fixed_answer_us"]:
        figures["httpx_client_cost_us"] = round(
            figures["httpx_post_fixed_answer_us"] - figures["raw_socket_post_fixed_answer_us"], 1
        )
        figures["aiohttp_client_cost_us"] = round(
            (figures["aiohttp_post_fixed_answer_us"] or 0) - figures["raw_socket_post_fixed_answer_us"], 1
        )
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name.ljust(width)}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
