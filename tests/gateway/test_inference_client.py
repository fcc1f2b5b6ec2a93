"""The gateway's aiohttp client to inference, against a real HTTP server standing in for inference (the far
edge): answers pass through byte for byte, 429 keeps its Retry-After and detail, 5xx becomes a 503 naming
inference, and the body the gateway validated is forwarded as sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from stack import free_port

ANSWER = b'{"model_version":"v1","predictions":[]}'
SEEN: list[bytes] = []


async def fake_inference(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200 with fixed bytes; 429 + Retry-After when the text says 'busy'; 500 when it says 'crash'."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    SEEN.append(body)
    status, payload, headers = 200, ANSWER, [(b"content-type", b"application/json")]
    if b"busy" in body:
        status, payload = 429, json.dumps({"detail": "inference is at capacity; retry later"}).encode()
        headers.append((b"retry-after", b"3"))
    elif b"crash" in body:
        status, payload = 500, b'{"detail": "boom"}'
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def inference_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake_inference, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "fake inference did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_answers_pass_through_and_the_validated_body_is_forwarded_as_sent(make_client, inference_url) -> None:
    client = make_client(inference_url=inference_url)
    raw = b'{"texts":  ["Stocks rally"],   "articles": null}'
    response = client.post("/v1/classify", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.content == ANSWER
    assert SEEN[-1] == raw


def test_inference_429_keeps_retry_after_and_detail(make_client, inference_url) -> None:
    client = make_client(inference_url=inference_url)
    response = client.post("/v1/classify", json={"texts": ["busy"]})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["detail"] == "inference is at capacity; retry later"


def test_inference_500_is_a_503_naming_inference(make_client, inference_url) -> None:
    client = make_client(inference_url=inference_url)
    response = client.post("/v1/classify", json={"texts": ["crash"]})
    assert response.status_code == 503
    assert response.json()["detail"] == f"inference service at {inference_url} answered 500: boom"
