"""Dynamic micro-batching: concurrent requests share forward passes on one inference thread.

Requests enqueue their texts and await a future. The inference thread takes the oldest request, then every
request already waiting (up to max_batch_size texts), waits at most max_wait_ms for more if the batch is
still short, and runs the model once. While it computes, new requests pile up and form the next batch, so
under load batches fill by themselves. The wait applies only when the previous batch had company, so a lone
client (concurrency 1) never pays it.

One thread runs the model by default: on a small CPU, concurrent forward passes that each use every core only
fight over them. INFERENCE_WORKERS=N runs N batch threads instead (pair it with INTRA_OP_THREADS = cores / N),
which trades per-pass parallelism for passes side by side. Whole requests go into a batch, and the model is
read once per batch, so every text of a request is answered by the same model version even during a swap.
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

from agnews_inference.metrics import InferenceMetrics
from agnews_inference.predictor import LoadedModel

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    model: LoadedModel
    probs: np.ndarray


@dataclass
class _Pending:
    texts: Sequence[str]
    future: asyncio.Future[BatchResult]
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """A bounded queue of requests in front of a single inference thread."""

    def __init__(
        self,
        current_model: Callable[[], LoadedModel | None],
        metrics: InferenceMetrics,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        workers: int = 1,
    ) -> None:
        self._current_model = current_model
        self._metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self._queue: deque[_Pending] = deque()
        self._queued_texts = 0
        self._cond = threading.Condition()
        self._stopping = False
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._texts_per_s = 100.0  # running estimate, only used for Retry-After
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

    async def submit(self, texts: Sequence[str]) -> BatchResult:
        """Probabilities for `texts` from one model version; OverloadedError when the queue is full."""
        if self._current_model() is None:
            raise NotReadyError("no model loaded yet; see /readyz")
        loop = asyncio.get_running_loop()
        pending = _Pending(texts, loop.create_future(), loop)
        with self._cond:
            if self._queued_texts + len(texts) > self.max_queue and self._queue:
                wait = self._queued_texts / max(self._texts_per_s, 1.0)
                raise OverloadedError(
                    f"inference queue is full ({self._queued_texts} texts waiting, limit {self.max_queue}); "
                    "retry later",
                    retry_after_s=min(30.0, max(1.0, math.ceil(wait))),
                )
            self._queue.append(pending)
            self._queued_texts += len(texts)
            self._metrics.queue_depth.set(self._queued_texts)
            self._cond.notify()
        # The thread resolves the future even if this request is cancelled (client gone): nothing leaks.
        return await pending.future

    # -- inference thread ---------------------------------------------------------------------------------
    def _take_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            batch = [self._queue.popleft()]
            size = len(batch[0].texts)
            # Wait for company only when there was company last time: a lone client (c=1) never pays max_wait.
            wait_s = self.max_wait_s if self._last_batch_requests > 1 or self._queue else 0.0
            deadline = time.perf_counter() + wait_s
            while size < self.max_batch_size:
                if self._queue:
                    if size + len(self._queue[0].texts) > self.max_batch_size:
                        break
                    item = self._queue.popleft()
                    batch.append(item)
                    size += len(item.texts)
                    continue
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or self._stopping:
                    break
                self._cond.wait(remaining)
            self._queued_texts -= size
            self._last_batch_requests = len(batch)
            self._metrics.queue_depth.set(self._queued_texts)
            return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            self._process(batch)
        with self._cond:  # stopping: fail whatever is left rather than leave callers hanging
            leftovers, self._queue = list(self._queue), deque()
        for item in leftovers:
            _resolve(item, error=NotReadyError("the server is shutting down"))

    def _process(self, batch: list[_Pending]) -> None:
        model = self._current_model()  # read once: the whole batch uses one version
        if model is None:
            for item in batch:
                _resolve(item, error=NotReadyError("no model loaded yet; see /readyz"))
            return
        texts = [t for item in batch for t in item.texts]
        started = time.perf_counter()
        try:
            probs = model.predictor.predict_proba(texts)
        except Exception as exc:
            logger.exception("inference failed on a batch of %d texts", len(texts))
            self._isolate(model, batch, exc)
            return
        elapsed = time.perf_counter() - started
        self._texts_per_s = 0.8 * self._texts_per_s + 0.2 * len(texts) / max(elapsed, 1e-6)
        self._metrics.batch_size.observe(len(texts))
        offset = 0
        for item in batch:
            n = len(item.texts)
            _resolve(item, result=BatchResult(model, probs[offset : offset + n]))
            offset += n

    def _isolate(self, model: LoadedModel, batch: list[_Pending], exc: Exception) -> None:
        """One bad request must not fail the others batched with it: run each alone, fail only those
        that fail alone (issue 8: per-item isolation; costs one extra pass, only on this error path)."""
        if len(batch) == 1:
            _resolve(batch[0], error=InvalidInputError(f"this request could not be classified: {type(exc).__name__}"))
            return
        for item in batch:
            self._process_alone(model, item)

    def _process_alone(self, model: LoadedModel, item: _Pending) -> None:
        try:
            probs = model.predictor.predict_proba(item.texts)
        except Exception as exc:
            logger.warning("a request of %d texts fails on its own: %s", len(item.texts), exc)
            _resolve(item, error=InvalidInputError(f"this request could not be classified: {type(exc).__name__}"))
            return
        _resolve(item, result=BatchResult(model, probs))


def _resolve(item: _Pending, result: BatchResult | None = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if item.future.done():  # the request was cancelled meanwhile
            return
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the loop is closed (server stopped)
        item.loop.call_soon_threadsafe(settle)
