"""The shadow challenger: a second version scores a share of live traffic in the background.

It never touches the champion's answer: the request path only offers the already-answered predictions to a
bounded queue (dropped, and counted, when full), and one background thread runs the shadow model on them and
compares labels. By default that thread yields to live traffic: it starts a request's scoring only while the
champion has nothing queued or running (`INFERENCE_SHADOW_YIELD`), and runs un-niced (see open_shadow).
Without yielding it runs at once at nice +10, which was not enough on two cores: the shadow still took CPU
slices, and the champion's p50 at 32 clients rose by a quarter or more. Under saturation a yielding shadow
scores less (`agnews_shadow_dropped_total` says how much), which is the trade a challenger should make.
The version in shadow comes from `aliases/shadow.json` (agnews_core.shadow), polled like the champion alias;
a shadow equal to the champion is not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import random
import threading
from collections.abc import Callable, Iterator

import numpy as np
from agnews_core.shadow import ShadowConfig, ShadowStats, read_shadow
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agnews_inference.loader import load_model
from agnews_inference.model_server import ModelServer
from agnews_inference.prediction_log import Served
from agnews_inference.predictor import LoadedModel

logger = logging.getLogger(__name__)


class ShadowScorer:
    """Follows the shadow alias, and scores offered predictions with that version off the request path."""

    def __init__(
        self,
        server: ModelServer,
        stats: ShadowStats | None,
        *,
        idle: Callable[[], bool] | None = None,
        max_queue: int = 256,
        nice: int = 10,
        idle_poll_s: float = 0.002,
    ) -> None:
        self.server = server
        self.stats = stats
        self.idle = idle
        """True while the champion has no work queued or running; None: score at once (nice only)."""
        self.nice = nice
        self.idle_poll_s = idle_poll_s
        self._stopping = threading.Event()
        self.config: ShadowConfig | None = None
        self.model: LoadedModel | None = None
        self.scored: dict[tuple[str, str, bool], int] = {}
        self.dropped = 0
        self._queue: queue.Queue[Served | None] = queue.Queue(maxsize=max_queue)
        self._random = random.Random()
        self._thread: threading.Thread | None = None
        self._broken: str | None = None

    # -- request side --------------------------------------------------------------------------------------
    def offer(self, served: Served) -> None:
        model, config = self.model, self.config
        if model is None or config is None or model.version == served.model_version:
            return
        if config.share < 1 and self._random.random() >= config.share:
            return
        try:
            self._queue.put_nowait(served)
        except queue.Full:
            self.dropped += 1

    # -- following the alias -------------------------------------------------------------------------------
    async def follow(self, interval_s: float) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a broken shadow must never disturb serving
                logger.exception("following the shadow alias failed")
            await asyncio.sleep(interval_s if interval_s > 0 else 2.0)

    async def refresh(self) -> None:
        config = await asyncio.to_thread(read_shadow, self.server.registry.store)
        if config is None:
            self.config, self.model = None, None
            return
        if self.model is None or self.model.version != config.version:
            if config.version == self._broken:
                return  # versions are immutable: one that failed to load fails again
            logger.info("loading shadow model %s (share %.2f)", config.version, config.share)
            # One intra-op thread: the runtime then computes in the calling (niced) thread instead of a pool
            # of its own at normal priority, so the shadow only takes CPU the champion leaves.
            settings = self.server.settings.model_copy(update={"intra_op_threads": 1})
            try:
                self.model = await asyncio.to_thread(load_model, self.server.registry, config.version, settings)
            except Exception:
                self._broken = config.version
                self.config, self.model = None, None
                logger.exception("shadow version %s cannot be loaded; not scoring with it", config.version)
                return
        self.config = config

    # -- the thread ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=5)
            self._thread.join(10)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # per-thread nice: Linux only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while (item := self._queue.get()) is not None:
            if not self._wait_for_idle():
                return
            model = self.model
            if model is None:
                continue
            try:
                self._score(model, item)
            except Exception:
                logger.exception("shadow scoring failed")

    def _wait_for_idle(self) -> bool:
        """Block while the champion is busy; False when stopping. Offers meanwhile fill (then drop) the queue."""
        idle = self.idle
        while idle is not None and not idle():
            if self._stopping.wait(self.idle_poll_s):
                return False
        return not self._stopping.is_set()

    def _score(self, model: LoadedModel, item: Served) -> None:
        texts = [item.inputs[r] for r in item.rows]
        probs = model.predictor.predict_proba(texts)
        shadow_labels = [model.label_names[i] for i in np.argmax(probs, axis=1).tolist()]
        champion_labels = [item.label_names[int(np.argmax(item.probs[r]))] for r in item.rows]
        rows = []
        for prediction_id, mine, theirs in zip(item.ids, shadow_labels, champion_labels, strict=True):
            key = (item.model_version, model.version, mine == theirs)
            self.scored[key] = self.scored.get(key, 0) + 1
            rows.append((prediction_id, mine, mine == theirs))
        if self.stats is not None:
            self.stats.add(item.model_version, model.version, rows)


class ShadowCollector(Collector):
    """agnews_shadow_predictions_total{champion,shadow,agree}, agnews_shadow_agreement{champion,shadow}."""

    def __init__(self, scorer: ShadowScorer) -> None:
        self.scorer = scorer

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "agnews_shadow_predictions",
            "Predictions scored by the shadow version, by agreement with the champion.",
            labels=["champion", "shadow", "agree"],
        )
        share = GaugeMetricFamily(
            "agnews_shadow_agreement",
            "Share of shadow predictions equal to the champion's.",
            labels=["champion", "shadow"],
        )
        pairs: dict[tuple[str, str], list[int]] = {}
        for (champion, shadow, agree), n in sorted(self.scorer.scored.items()):
            total.add_metric([champion, shadow, "true" if agree else "false"], float(n))
            counts = pairs.setdefault((champion, shadow), [0, 0])
            counts[0] += n
            counts[1] += n if agree else 0
        for (champion, shadow), (n, agreeing) in pairs.items():
            share.add_metric([champion, shadow], agreeing / n)
        dropped = CounterMetricFamily("agnews_shadow_dropped", "Predictions the busy shadow queue skipped.")
        dropped.add_metric([], float(self.scorer.dropped))
        yield from (total, share, dropped)


def open_shadow(
    server: ModelServer,
    stats: ShadowStats | None,
    registry: CollectorRegistry,
    idle: Callable[[], bool] | None = None,
) -> ShadowScorer:
    if server.settings.shadow_yield:
        # No nice when yielding: the shadow then runs only in the champion's idle moments, and a niced thread
        # that holds the GIL when a request arrives is the one the scheduler runs last (the event loop waits
        # on it: c1 p99 61 ms niced vs 18 ms not, bench-monitoring).
        scorer = ShadowScorer(server, stats, idle=idle, nice=0)
    else:
        scorer = ShadowScorer(server, stats)
    registry.register(ShadowCollector(scorer))
    return scorer
