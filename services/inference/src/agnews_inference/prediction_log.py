"""The prediction log: an id for each logged prediction, records written in batches off the request path.

On the request path `stamp` only draws the sample, makes ids (uuid4) and queues one tuple per request; the
log thread (agnews_core.recordlog) hashes the texts, measures their unknown-word share, builds the records,
writes the feedback index to Redis at once and the records to the artifact store in batches
(`predictions/date=YYYY-MM-DD/*.jsonl`). Hooks (drift windows, shadow scoring) see every record in that thread
too.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import redis
from agnews_core.drift import LiveCounts, length_bucket, unknown_bucket, unknown_share
from agnews_core.feedback import PredictionIndex
from agnews_core.recordlog import Record, RecordLog
from agnews_core.schemas import ClassifyResponse
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from agnews_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)

PREDICTIONS_PREFIX = "predictions"
INDEX_DELAY_S = 0.02
"""How long the log thread gathers predictions before indexing them: feedback can find a prediction about
this long after its answer (the gateway waits that out once, see routes/feedback.py)."""


@dataclass(frozen=True)
class Served:
    """One request's logged predictions, as cheap to build as possible (the heavy part is in the thread)."""

    ids: list[str]
    rows: list[int]
    """Which items of the request were sampled (their index in `inputs` and `probs`)."""
    model_version: str
    label_names: tuple[str, ...]
    at: float
    probs: np.ndarray
    inputs: Sequence[str]
    vocabulary: frozenset[str] | None = None
    """The serving model's training vocabulary (the unknown_words drift signal), shared, never copied."""


def to_records(item: Served, keep_text: bool) -> Iterator[Record]:
    when = datetime.fromtimestamp(item.at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for prediction_id, row in zip(item.ids, item.rows, strict=True):
        probs = item.probs[row]
        best = int(np.argmax(probs))
        text = item.inputs[row]
        record: Record = {
            "prediction_id": prediction_id,
            "time": when,
            "unix_time": round(item.at, 3),
            "model_version": item.model_version,
            "label": item.label_names[best],
            "scores": {name: round(float(p), 6) for name, p in zip(item.label_names, probs, strict=True)},
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "text_chars": len(text),
        }
        if item.vocabulary is not None:
            share = unknown_share(text, item.vocabulary)
            record["unknown_word_share"] = None if share is None else round(share, 4)
        if keep_text:
            record["text"] = text
        yield record


class PredictionLog:
    """Sampling and ids (request side) in front of a RecordLog (thread side)."""

    def __init__(
        self,
        settings: InferenceSettings,
        index: PredictionIndex | None,
        hooks: Sequence[Callable[[list[Record]], None]] = (),
    ) -> None:
        self.rate = settings.prediction_log_rate
        self.index = index
        keep_text = settings.prediction_log_text
        on_records = ([self._index_records] if index is not None else []) + list(hooks)
        self.log: RecordLog[Served] = RecordLog(
            settings.open_store(),
            PREDICTIONS_PREFIX,
            lambda item: to_records(item, keep_text),
            flush_rows=settings.prediction_log_flush_rows,
            flush_interval_s=settings.prediction_log_flush_s,
            max_pending=settings.prediction_log_max_pending,
            on_records=on_records,
            coalesce_s=INDEX_DELAY_S,
        )
        self._random = random.Random()
        self.shadow: Callable[[Served], None] | None = None
        """Offered every logged request after it is queued (the shadow scorer), never awaited."""

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def stamp(
        self,
        response: ClassifyResponse,
        probs: np.ndarray,
        inputs: Sequence[str],
        vocabulary: frozenset[str] | None = None,
    ) -> None:
        """Give the sampled predictions of a response their prediction_id and queue them for the log."""
        if self.rate <= 0:
            return
        rows = [i for i in range(len(response.predictions)) if self.rate >= 1 or self._random.random() < self.rate]
        if not rows:
            return
        ids = [uuid.uuid4().hex for _ in rows]
        for row, prediction_id in zip(rows, ids, strict=True):
            response.predictions[row].prediction_id = prediction_id
        names = tuple(response.predictions[0].scores)
        served = Served(ids, rows, response.model_version, names, time.time(), probs, inputs, vocabulary)
        self.log.put(served)
        if self.shadow is not None:
            self.shadow(served)

    def _index_records(self, records: list[Record]) -> None:
        assert self.index is not None
        self.index.add_many((r["prediction_id"], r["model_version"], r["label"], r["unix_time"]) for r in records)

    def start(self) -> None:
        self.log.start()

    def close(self) -> None:
        self.log.close()


class PredictionLogCollector(Collector):
    """agnews_prediction_log_records_total{outcome}: records written to the store, and dropped."""

    def __init__(self, log: RecordLog[Served]) -> None:
        self.log = log

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "agnews_prediction_log_records", "Prediction log records by outcome.", labels=["outcome"]
        )
        family.add_metric(["written"], float(self.log.written))
        family.add_metric(["dropped"], float(self.log.dropped))
        family.add_metric(["unindexed"], float(self.log.unhooked))  # Redis was down: no feedback join, no drift
        yield family


def open_prediction_log(
    settings: InferenceSettings, registry: CollectorRegistry, client: redis.Redis | None
) -> PredictionLog:
    """The log the lifespan starts: with the Redis feedback index and drift counts when there is Redis."""
    index = None
    hooks: list[Callable[[list[Record]], None]] = []
    if client is not None:
        index = PredictionIndex(client, settings.prediction_index_ttl_s)
        mix, lengths = LiveCounts(client, "label_mix"), LiveCounts(client, "input_length")
        unknown = LiveCounts(client, "unknown_words")

        def count(records: list[Record]) -> None:
            mix.add((r["model_version"], r["label"], r["unix_time"]) for r in records)
            lengths.add((r["model_version"], length_bucket(r["text_chars"]), r["unix_time"]) for r in records)
            unknown.add(
                (r["model_version"], unknown_bucket(r["unknown_word_share"]), r["unix_time"])
                for r in records
                if "unknown_word_share" in r  # a version published without vocabulary.txt has no such signal
            )

        hooks.append(count)
    else:
        logger.info("INFERENCE_REDIS_URL is not set: predictions are logged but feedback cannot find them")
    log = PredictionLog(settings, index, hooks)
    registry.register(PredictionLogCollector(log.log))
    return log
