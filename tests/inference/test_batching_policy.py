"""The batching policy on a real uvicorn server: FIFO, token budget, deadline drops, client-gone drops,
admission control (429 + Retry-After) and per-request failure isolation.

The inference thread is held on a gate (a request whose text is HOLD waits until the test opens it), so the
queue behind it is built deterministically before the thread looks at it; nothing here measures speed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agnews_inference.app import create_app
from agnews_inference.batch_policy import MIN_PASS_TOKENS, BatchPolicy
from conftest import serve

HOLD = "HOLD"
POISON = "POISON"
GONE_SERIES = '{method="POST",route="/v1/classify",service="inference",status="499"}'


class Gated:
    """Wraps the real tfidf predictor: records each pass, blocks on HOLD, raises on POISON."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.passes: list[list[str]] = []
        self.holding = threading.Event()

    def predict_proba(self, texts):
        self.passes.append(list(texts))
        if HOLD in texts:
            self.holding.set()
            assert self.gate.wait(30), "the test never opened the gate"
        if POISON in texts:
            raise ValueError("this text breaks the model")
        return self.inner.predict_proba(texts)


@dataclasses.dataclass
class Served:
    url: str
    app: Any
    predictor: Gated

    async def wait_queued(self, texts: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.app.state.batcher.depth < texts:
            assert time.monotonic() < deadline, f"queue depth {self.app.state.batcher.depth}, expected {texts}"
            await asyncio.sleep(0.002)

    def metric(self, name: str, labels: str = "") -> float:
        """A sample from /metrics (0 when the series does not exist yet)."""
        text = httpx.get(f"{self.url}/metrics").text
        match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0


@pytest.fixture
def start(make_registry_with_champion, make_settings) -> Iterator[Any]:
    """start(**settings) -> Served: a real server on a tfidf champion whose predictor is Gated."""
    registry, _ = make_registry_with_champion("tfidf")
    stack: list[Any] = []

    def go(**overrides: Any) -> Served:
        app = create_app(make_settings(registry.uri, poll_interval_s=0, **overrides))
        cm = serve(app)
        url = cm.__enter__()
        stack.append(cm)
        server = app.state.model_server
        predictor = Gated(server.current.predictor)
        server.current = dataclasses.replace(server.current, predictor=predictor)
        return Served(url, app, predictor)

    yield go
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


async def _post_all(url: str, bodies: list[dict[str, Any]], spacing_s: float = 0.0) -> list[httpx.Response]:
    """POST each body in order (each waits until the previous one is queued), answers in the same order."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = []
        for body in bodies:
            tasks.append(asyncio.ensure_future(client.post("/v1/classify", json=body)))
            await asyncio.sleep(spacing_s)
        return list(await asyncio.gather(*tasks))


def _held_burst(served: Served, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Hold the inference thread on a HOLD request, queue `bodies` behind it in order, then open the gate."""

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            held = asyncio.ensure_future(client.post("/v1/classify", json={"texts": [HOLD]}))
            while not served.predictor.holding.is_set():
                await asyncio.sleep(0.005)
            tasks, queued = [], 0
            for body in bodies:
                tasks.append(asyncio.ensure_future(client.post("/v1/classify", json=body)))
                queued += len(body["texts"])
                await served.wait_queued(queued)  # strictly one after another: a known order
            served.predictor.gate.set()
            first = await held
            assert first.status_code == 200, first.text
            return list(await asyncio.gather(*tasks))

    return asyncio.run(go())


def test_batches_are_fifo_and_capped_by_the_token_budget(start) -> None:
    texts = [f"t{i:02d} " + "w" * 32 for i in range(9)]
    cost = BatchPolicy().cost(texts[:1])
    served = start(token_budget=3 * cost + 1, max_batch_size=32)  # three texts fit a pass, four do not
    bodies = [{"texts": [t]} for t in texts[:4]] + [{"texts": texts[4:7]}] + [{"texts": [t]} for t in texts[7:]]
    responses = _held_burst(served, bodies)
    assert [r.status_code for r in responses] == [200] * len(bodies)
    later = served.predictor.passes[1:]
    assert [t for p in later for t in p] == texts  # arrival order, nobody overtaken
    assert [len(p) for p in later] == [3, 1, 3, 2]  # the 3-text request does not fit after one: next pass
    assert served.metric("agnews_inference_batch_tokens_count") == 5


def test_a_pass_is_cut_to_what_the_measured_speed_computes_in_max_pass_ms() -> None:
    policy = BatchPolicy(token_budget=1024, max_pass_ms=100)
    assert policy.pass_budget(None) == 1024  # no speed measured yet: the token budget
    assert policy.pass_budget(4_500.0) == 450  # a slow CPU: 100 ms of work
    assert policy.pass_budget(50_000.0) == 1024  # a fast one: the token budget still caps it
    assert policy.pass_budget(100.0) == MIN_PASS_TOKENS  # a pass has a fixed cost: never tiny
    assert BatchPolicy(max_pass_ms=0).pass_budget(100.0) == 1024  # 0: off


def test_the_time_cut_follows_the_measured_speed(start) -> None:
    texts = [f"t{i:02d} " + "w" * 200 for i in range(9)]
    cost = BatchPolicy().cost(texts[:1])  # 44 estimated tokens
    served = start(max_pass_ms=100, max_queue_delay_ms=60_000)
    # as if passes had run at this speed: 100 ms of it is three of these texts
    served.app.state.batcher._tokens_per_s = (3 * cost + 1) * 10.0
    responses = _held_burst(served, [{"texts": [t]} for t in texts])
    assert [r.status_code for r in responses] == [200] * len(texts)
    later = served.predictor.passes[1:]
    assert [t for p in later for t in p] == texts
    # the first pass is cut to 100 ms at the assumed speed; it then measures the real (tfidf: far faster) one,
    # and the rest fits the token budget in one pass
    assert [len(p) for p in later] == [3, 6]


def test_a_request_larger_than_the_budget_runs_alone_instead_of_starving(start) -> None:
    served = start(token_budget=16)
    big = [" ".join(["word"] * 40)] * 3  # 3 x 43 estimated tokens, far over the budget
    responses = _held_burst(served, [{"texts": ["a"]}, {"texts": big}, {"texts": ["b"]}])
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [len(r.json()["predictions"]) for r in responses] == [1, 3, 1]
    assert served.predictor.passes[1:] == [["a"], big, ["b"]]


def test_work_past_its_deadline_is_dropped_not_computed(start) -> None:
    served = start(deadline_ms=100)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            held = asyncio.ensure_future(client.post("/v1/classify", json={"texts": [HOLD]}))
            while not served.predictor.holding.is_set():
                await asyncio.sleep(0.005)
            late = asyncio.ensure_future(client.post("/v1/classify", json={"texts": ["too late"]}))
            await served.wait_queued(1)
            await asyncio.sleep(0.3)  # three deadlines
            served.predictor.gate.set()
            return [await held, await late]

    held, late = asyncio.run(go())
    assert held.status_code == 200
    assert late.status_code == 429
    assert int(late.headers["Retry-After"]) >= 1
    assert "past its deadline of 100 ms (INFERENCE_DEADLINE_MS)" in late.json()["detail"]
    assert all("too late" not in p for p in served.predictor.passes)
    assert served.metric("agnews_inference_dropped_total", '{reason="deadline"}') == 1
    ok = httpx.post(f"{served.url}/v1/classify", json={"texts": ["fresh work is still served"]})
    assert ok.status_code == 200


def test_work_of_a_client_that_hung_up_is_dropped(start) -> None:
    served = start()

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            held = asyncio.ensure_future(client.post("/v1/classify", json={"texts": [HOLD]}))
            while not served.predictor.holding.is_set():
                await asyncio.sleep(0.005)
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as impatient:
                leaving = asyncio.ensure_future(impatient.post("/v1/classify", json={"texts": ["nobody waits for me"]}))
                await served.wait_queued(1)
                leaving.cancel()  # hang up once it is queued: httpx drops the connection
                with pytest.raises(asyncio.CancelledError):
                    await leaving
            deadline = time.monotonic() + 10
            while served.metric("agnews_http_requests_total", GONE_SERIES) < 1:  # the route saw the hang-up
                assert time.monotonic() < deadline, "the hang-up was never noticed"
                await asyncio.sleep(0.02)
            assert served.app.state.batcher.depth == 0  # its work stopped counting towards admission at once
            served.predictor.gate.set()
            return await held

    assert asyncio.run(go()).status_code == 200
    assert httpx.post(f"{served.url}/v1/classify", json={"texts": ["after"]}).status_code == 200
    assert all("nobody waits for me" not in p for p in served.predictor.passes)
    assert served.metric("agnews_inference_dropped_total", '{reason="client_gone"}') == 1


def test_past_capacity_requests_get_429_with_retry_after_and_the_rest_are_served(start) -> None:
    # Any queued work is over a 0.05 ms budget once the speed is known; an empty queue still admits anything.
    served = start(max_queue_delay_ms=0.05, token_budget=64)
    warm = [{"texts": ["warm up " * 5] * 5}] * 2  # full passes (>= half the budget) measure the speed
    assert [r.status_code for r in asyncio.run(_post_all(served.url, warm))] == [200, 200]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            held = asyncio.ensure_future(client.post("/v1/classify", json={"texts": [HOLD]}))
            while not served.predictor.holding.is_set():
                await asyncio.sleep(0.005)
            queued = asyncio.ensure_future(client.post("/v1/classify", json={"texts": ["queued " * 8] * 20}))
            await served.wait_queued(20)
            shed = [await client.post("/v1/classify", json={"texts": ["one more"]}) for _ in range(3)]
            # refused at the door, before its body is read: not even a broken body costs a parse past capacity
            shed.append(await client.post("/v1/classify", content=b"{not json", headers={"Content-Type": "text/x"}))
            served.predictor.gate.set()
            return [await held, await queued, *shed]

    held, queued, *shed = asyncio.run(burst())
    assert held.status_code == 200 and queued.status_code == 200
    assert [r.status_code for r in shed] == [429, 429, 429, 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in shed)
    assert shed[3].json()["detail"].startswith("inference is at capacity: queued work would take ")
    detail = shed[0].json()["detail"]
    assert detail.startswith("inference is at capacity: queued work would take ")
    assert "the limit is 0 ms (INFERENCE_MAX_QUEUE_DELAY_MS); retry later" in detail
    assert served.metric("agnews_inference_shed_total", '{reason="over_capacity"}') == 4
    refused = '{method="POST",route="/v1/classify",service="inference",status="429"}'
    assert served.metric("agnews_http_requests_total", refused) == 4  # labelled by route, not "unmatched"
    assert all("one more" not in p for p in served.predictor.passes)


def test_one_bad_input_fails_only_its_own_request(start) -> None:
    served = start()
    bodies = [{"texts": ["good one"]}, {"texts": ["fine", POISON]}, {"texts": ["good two"]}]
    good_one, poisoned, good_two = _held_burst(served, bodies)
    assert good_one.status_code == 200 and good_two.status_code == 200
    assert poisoned.status_code == 422
    assert poisoned.json()["detail"] == (
        "the model could not classify this input (ValueError: this text breaks the model)"
    )
    together = ["good one", "fine", POISON, "good two"]
    assert together in served.predictor.passes  # they really shared a pass, then were retried one by one
    assert served.predictor.passes[-3:] == [["good one"], ["fine", POISON], ["good two"]]
    assert served.metric("agnews_inference_failed_requests_total") == 1
