"""Micro-batching for the tail: FIFO, no timer, a token budget per pass, deadlines, admission control.

Requests enqueue their texts and await a future. The inference thread takes the oldest request and every
request queued behind it, in order, until the next one would overflow the pass's token budget
(INFERENCE_TOKEN_BUDGET, estimated tokens, cut to what the measured speed computes in INFERENCE_MAX_PASS_MS: past
capacity a request waits its queue time plus one whole pass) or text cap (INFERENCE_MAX_BATCH_SIZE); it never
skips ahead, so no request waits behind one that arrived after it. It does not wait for company by default
(MAX_WAIT_MS=0): on this CPU a forward pass costs about the same per token at batch 4 as at 32
(bench/bench_inference_backends.py), so waiting to fill a batch only adds latency, and under load the queue
fills by itself while a pass runs.

Work that can no longer help anyone is dropped before it is computed: a request whose deadline passed while
queued (INFERENCE_DEADLINE_MS; answered 429) or whose client hung up. Admission control refuses a request up
front (429 + Retry-After, without queueing) when the queued work would already take longer than
INFERENCE_MAX_QUEUE_DELAY_MS at the measured speed, so past capacity latency stays flat and the excess is shed.

A pass that raises is retried request by request, so one bad input fails only its own request (422), never its
batch-mates. One thread runs the model by default (a pass uses every core); INFERENCE_WORKERS=N runs N. The
model is read once per batch, so every text of a request is answered by one model version even during a swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from agnews_core.errors import InvalidInputError, NotReadyError, OverloadedError

from agnews_inference.batch_policy import BatchPolicy
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.predictor import LoadedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    model: LoadedModel
    probs: np.ndarray


@dataclass(eq=False)
class Ticket:
    """A queued request, as `enqueue` hands it back: await `MicroBatcher.result(ticket)` for its answer."""

    texts: Sequence[str]
    cost: int
    future: asyncio.Future[BatchResult]
    loop: asyncio.AbstractEventLoop
    deadline: float
    enqueued: float = field(default_factory=time.perf_counter)
    abandoned: bool = False  # the caller stopped waiting (client gone) while it was queued: skip it
    taken: bool = False  # off the queue (running or dropped)


class MicroBatcher:
    """A bounded FIFO of requests in front of the inference thread(s)."""

    def __init__(
        self,
        current_model: Callable[[], LoadedModel | None],
        metrics: InferenceMetrics,
        policy: BatchPolicy,
        *,
        workers: int = 1,
    ) -> None:
        self._current_model = current_model
        self._metrics = metrics
        self.policy = policy
        self.workers = workers
        self._queue: deque[Ticket] = deque()
        self._queued_texts = 0
        self._queued_cost = 0
        self._running_cost = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._tokens_per_s: float | None = None  # measured on full passes; no delay-based shedding before one ran
        self._last_batch_requests = 0

    # -- event loop side ----------------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"inference-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def depth(self) -> int:
        return self._queued_texts

    @property
    def idle(self) -> bool:
        """Nothing queued and no pass running (read without the lock: a hint for background work)."""
        return not self._queue and self._running_cost == 0

    def expected_wait_s(self) -> float:
        """How long a request arriving now would queue before its pass starts, at the measured speed."""
        if not self._tokens_per_s:
            return 0.0
        return (self._queued_cost + self._running_cost) / (self._tokens_per_s * self.workers)

    async def submit(self, texts: Sequence[str]) -> BatchResult:
        """Probabilities for `texts` from one model version: `enqueue` then `result`."""
        return await self.result(self.enqueue(texts))

    def enqueue(self, texts: Sequence[str]) -> Ticket:
        """Admit and queue `texts` now, in the caller's step of the event loop.

        Synchronous on purpose: a burst of requests is admitted one by one against the queue as each left
        it, so past capacity the early check (refuse_early) refuses the rest of the burst. Queued from a
        task of its own, the whole burst would pass that check before any of it was queued.
        OverloadedError (429) when admission refuses it; NotReadyError (503) before a model is loaded.
        """
        if self._current_model() is None:
            raise NotReadyError("no model loaded yet; see /readyz")
        policy = self.policy
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        ticket = Ticket(texts, policy.cost(texts), loop.create_future(), loop, now + policy.deadline_ms / 1000)
        with self._cond:
            self._admit(len(texts))
            self._queue.append(ticket)
            self._queued_texts += len(texts)
            self._queued_cost += ticket.cost
            self._metrics.queue_depth.set(self._queued_texts)
            self._cond.notify()
        return ticket

    async def result(self, ticket: Ticket) -> BatchResult:
        """The answer to an enqueued request. OverloadedError (429) when its deadline passed in the queue;
        InvalidInputError (422) when the model fails on this request's input. Cancelled (the client went
        away), its queued work is skipped and stops counting towards admission.
        """
        try:
            return await ticket.future
        except asyncio.CancelledError:
            with self._cond:
                if not ticket.taken:
                    ticket.abandoned = True
                    self._queued_texts -= len(ticket.texts)
                    self._queued_cost -= ticket.cost
                    self._metrics.queue_depth.set(self._queued_texts)
            raise

    def refuse_early(self) -> OverloadedError | None:
        """The 429 any request arriving now would get, so it can be answered before its body is even read.

        Read without the lock (a hint: enqueue checks again with it); counted as shed like any other refusal.
        """
        return self._refusal(0)

    def _admit(self, n_texts: int) -> None:
        """Raise OverloadedError when this request should be shed. Called with the lock held."""
        if (refusal := self._refusal(n_texts)) is not None:
            raise refusal

    def _refusal(self, n_texts: int) -> OverloadedError | None:
        """The 429 for a request of `n_texts` arriving now (counted as shed), or None when it is admitted."""
        if not self._queue:
            return None  # an idle server takes anything (a big request is then cut into passes by the predictor)
        policy = self.policy
        wait = self.expected_wait_s()
        if self._queued_texts + n_texts > policy.max_queue:
            reason = f"inference queue is full ({self._queued_texts} texts waiting, limit {policy.max_queue})"
            return self._shed("queue_full", reason, wait)
        if wait * 1000 > policy.max_queue_delay_ms:
            reason = (
                f"inference is at capacity: queued work would take {wait * 1000:.0f} ms, "
                f"the limit is {policy.max_queue_delay_ms:.0f} ms (INFERENCE_MAX_QUEUE_DELAY_MS)"
            )
            return self._shed("over_capacity", reason, wait)
        return None

    def _shed(self, reason: str, detail: str, wait_s: float) -> OverloadedError:
        self._metrics.shed.labels(reason).inc()
        return OverloadedError(f"{detail}; retry later", retry_after_s=min(30.0, max(1.0, math.ceil(wait_s))))

    # -- inference thread ---------------------------------------------------------------------------------
    def _take_batch(self) -> list[Ticket] | None:
        """The next batch in arrival order, within the token budget; drops dead requests on the way."""
        policy = self.policy
        with self._cond:
            budget = policy.pass_budget(self._tokens_per_s)
            batch: list[Ticket] = []
            cost = texts = 0
            wait_until: float | None = None
            while True:
                if self._stopping:
                    if not batch:
                        return None
                    break  # a batch already taken is still answered
                now = time.perf_counter()
                while self._queue:
                    head = self._queue[0]
                    if head.abandoned or head.deadline < now:
                        self._dequeue(head)
                        self._drop(head, "client_gone" if head.abandoned else "deadline", now)
                        continue
                    fits = cost + head.cost <= budget and texts + len(head.texts) <= policy.max_batch_size
                    if batch and not fits:
                        break
                    self._dequeue(head)
                    batch.append(head)
                    cost += head.cost
                    texts += len(head.texts)
                if batch and (self._queue or policy.max_wait_ms <= 0 or self._last_batch_requests <= 1):
                    break  # full, or no timer: run what is here now
                if batch and wait_until is None:
                    wait_until = now + policy.max_wait_ms / 1000
                if batch and wait_until is not None and now >= wait_until:
                    break
                self._cond.wait(None if wait_until is None else wait_until - now)
            self._running_cost += cost
            self._last_batch_requests = len(batch)
            self._metrics.queue_depth.set(self._queued_texts)
            return batch

    def _dequeue(self, item: Ticket) -> None:
        self._queue.popleft()
        item.taken = True
        if not item.abandoned:  # an abandoned request was uncounted when its caller left
            self._queued_texts -= len(item.texts)
            self._queued_cost -= item.cost

    def _drop(self, item: Ticket, reason: str, now: float) -> None:
        self._metrics.dropped.labels(reason).inc()
        if reason == "deadline":
            waited = (now - item.enqueued) * 1000
            error = OverloadedError(
                f"dropped unanswered: waited {waited:.0f} ms in the inference queue, past its deadline of "
                f"{self.policy.deadline_ms:.0f} ms (INFERENCE_DEADLINE_MS); retry later",
                retry_after_s=1.0,
            )
            _resolve(item, error=error)

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            cost = sum(item.cost for item in batch)
            try:
                self._process(batch)
            finally:
                with self._cond:
                    self._running_cost -= cost
        with self._cond:  # stopping: fail whatever is left rather than leave callers hanging
            leftovers, self._queue = list(self._queue), deque()
        for item in leftovers:
            _resolve(item, error=NotReadyError("the server is shutting down"))

    def _process(self, batch: list[Ticket]) -> None:
        model = self._current_model()  # read once: the whole batch uses one version
        if model is None:
            for item in batch:
                _resolve(item, error=NotReadyError("no model loaded yet; see /readyz"))
            return
        now = time.perf_counter()
        for item in batch:
            self._metrics.queue_wait.observe(now - item.enqueued)
        self._metrics.batch_size.observe(sum(len(item.texts) for item in batch))
        self._metrics.batch_tokens.observe(sum(item.cost for item in batch))
        self._predict(model, batch)

    def _predict(self, model: LoadedModel, batch: list[Ticket]) -> None:
        texts = [t for item in batch for t in item.texts]
        started = time.perf_counter()
        try:
            probs = model.predictor.predict_proba(texts)
        except Exception as exc:
            if len(batch) > 1:  # isolate the culprit: every other request of the batch is still answered
                logger.warning("a batch of %d requests failed (%s); retrying them one by one", len(batch), exc)
                for item in batch:
                    self._predict(model, [item])
                return
            logger.exception("inference failed on a request of %d texts", len(texts))
            self._metrics.failed_requests.inc()
            detail = f"the model could not classify this input ({type(exc).__name__}: {exc})"[:500]
            _resolve(batch[0], error=InvalidInputError(detail))
            return
        cost = sum(item.cost for item in batch)
        # small passes are mostly fixed cost: they would underestimate
        if cost >= self.policy.pass_budget(self._tokens_per_s) // 2:
            speed = cost / max(time.perf_counter() - started, 1e-6)
            self._tokens_per_s = speed if self._tokens_per_s is None else 0.8 * self._tokens_per_s + 0.2 * speed
        offset = 0
        for item in batch:
            n = len(item.texts)
            _resolve(item, result=BatchResult(model, probs[offset : offset + n]))
            offset += n


def _resolve(item: Ticket, result: BatchResult | None = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if item.future.done():  # the request was cancelled meanwhile
            return
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the loop is closed (server stopped)
        item.loop.call_soon_threadsafe(settle)
