"""Request limits: 413 (items, body size), 422 with a readable detail, truncation, 429 when the queue is full."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest
from agnews_inference.app import create_app
from conftest import serve


@pytest.fixture
def url(make_registry_with_champion, make_settings, served):
    registry, _ = make_registry_with_champion("tfidf")
    with served(make_settings(registry.uri, max_items=3, max_body_bytes=2048, max_chars=60)) as base:
        yield base


def test_too_many_items_is_413(url) -> None:
    resp = httpx.post(f"{url}/v1/classify", json={"texts": ["a", "b", "c", "d"]})
    assert resp.status_code == 413
    assert resp.json()["detail"].startswith("4 items in one request; the limit is 3 (INFERENCE_MAX_ITEMS)")


def test_oversized_body_is_413_by_content_length_and_by_stream(url) -> None:
    resp = httpx.post(f"{url}/v1/classify", json={"texts": ["x" * 3000]})
    assert resp.status_code == 413
    assert "larger than 2048 bytes" in resp.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer encoding, counted as it arrives
        yield b'{"texts": ["'
        for _ in range(10):
            yield b"y" * 500
        yield b'"]}'

    resp = httpx.post(f"{url}/v1/classify", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert "INFERENCE_MAX_BODY_BYTES" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"texts": []}, "send at least one text or article"),
        ({"texts": ["a"], "articles": [{"title": "b"}]}, "send exactly one of 'texts' or 'articles'"),
        ({}, "send exactly one of 'texts' or 'articles'"),
        ({"texts": "not a list"}, "texts: Input should be a valid list"),
        ({"articles": [{"title": 3}]}, "articles.0.title: Input should be a valid string"),
    ],
)
def test_bad_bodies_are_422_with_a_readable_detail(url, body, detail) -> None:
    resp = httpx.post(f"{url}/v1/classify", json=body)
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], str)
    assert detail in resp.json()["detail"]


def test_not_json_is_422(url) -> None:
    resp = httpx.post(f"{url}/v1/classify", content=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422
    assert "JSON" in resp.json()["detail"]


def test_long_texts_are_truncated_to_max_chars(url) -> None:
    head = "Federer wins the Wimbledon final in five sets on Sunday"
    tail = " and then markets rallied as bank shares surged on profits" * 20
    long = httpx.post(f"{url}/v1/classify", json={"texts": [head + tail]}).json()["predictions"][0]
    cut = httpx.post(f"{url}/v1/classify", json={"texts": [(head + tail)[:60]]}).json()["predictions"][0]
    assert long.pop("prediction_id") != cut.pop("prediction_id")  # each logged prediction has its own id
    assert long == cut


class _Slow:
    """Wraps a real predictor to hold the inference thread, so the queue visibly fills."""

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def predict_proba(self, texts):
        time.sleep(self.seconds)
        return self.inner.predict_proba(texts)


def test_full_queue_is_429_with_retry_after(make_registry_with_champion, make_settings) -> None:
    registry, _ = make_registry_with_champion("tfidf")
    # only the queue cap may refuse here: admission delay and deadline (their own tests) set far away
    settings = make_settings(registry.uri, max_queue=2, max_batch_size=1, max_queue_delay_ms=60_000, deadline_ms=60_000)
    app = create_app(settings)
    with serve(app) as base:
        server = app.state.model_server
        server.current = dataclasses.replace(server.current, predictor=_Slow(server.current.predictor, 0.5))

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                return await asyncio.gather(*(client.post("/v1/classify", json={"texts": ["x"]}) for _ in range(8)))

        responses = asyncio.run(burst())
        codes = sorted(r.status_code for r in responses)
        # The queue holds 2 texts; a third may already be on the inference thread when the burst lands.
        assert codes.count(200) >= 2 and codes.count(429) >= 1 and set(codes) == {200, 429}, codes
        rejected = next(r for r in responses if r.status_code == 429)
        assert int(rejected.headers["Retry-After"]) >= 1
        assert "queue is full" in rejected.json()["detail"]
