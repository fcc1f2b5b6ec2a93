"""Where a prediction and its feedback meet: a small Redis index and per-version sliding windows.

Inference writes `prediction_id -> (model version, predicted label)` from its log thread (never on the
request path) with a TTL, so the index stays small and bounded: feedback for a prediction older than the
TTL is refused (404), as the durable log on the artifact store is the place for old predictions. The
gateway reads the index when feedback arrives and keeps, per model version, a window of the latest
feedback (the last `window_s` seconds, at most `window_max` ids): repeated feedback for one id replaces the
earlier one, since both live under the id's key. Live accuracy is computed from the window when asked
(scrape or /v1/monitoring), so any number of gateway replicas agree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from agnews_core.errors import NotFoundError, NotReadyError

PREFIX = "agnews:mon:"
HISTORY_BUCKET_S = 300
HISTORY_KEEP_S = 8 * 24 * 3600


def _pred_key(prediction_id: str) -> str:
    return f"{PREFIX}pred:{prediction_id}"


@dataclass(frozen=True)
class IndexedPrediction:
    model_version: str
    label: str
    time: float


@dataclass(frozen=True)
class FeedbackOutcome:
    prediction_id: str
    model_version: str
    predicted: str
    label: str
    correct: bool
    replaced: bool


@dataclass(frozen=True)
class WindowStats:
    model_version: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None


class PredictionIndex:
    """Recent prediction_id -> version and label, with a TTL (written by inference, read by the gateway)."""

    def __init__(self, client: redis.Redis, ttl_s: int = 0) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def add_many(self, entries: Iterable[tuple[str, str, str, float]]) -> None:
        """(prediction_id, model_version, label, unix time) rows, in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        for prediction_id, version, label, at in entries:
            pipe.set(_pred_key(prediction_id), json.dumps([version, label, round(at, 3)]), ex=self.ttl_s or None)
        pipe.execute()

    def get(self, prediction_id: str) -> IndexedPrediction | None:
        raw = self.client.get(_pred_key(prediction_id))
        if raw is None:
            return None
        version, label, at = json.loads(raw)
        return IndexedPrediction(str(version), str(label), float(at))


class FeedbackStore:
    """Feedback per model version in a sliding window; counts of every feedback ever received."""

    def __init__(
        self,
        client: redis.Redis,
        index: PredictionIndex,
        *,
        window_s: float,
        window_max: int,
        shadow_lookup: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> None:
        self.client = client
        self.index = index
        self.shadow_lookup = shadow_lookup
        self.window_s = window_s
        self.window_max = window_max

    def _keys(self, version: str) -> tuple[str, str]:
        return f"{PREFIX}fb:{version}:t", f"{PREFIX}fb:{version}:c"

    def record(self, prediction_id: str, label: str, now: float | None = None) -> FeedbackOutcome:
        """Store one feedback; NotFoundError for an id the index does not know (unknown or expired).

        When a shadow version also scored the prediction, the same feedback counts for it too, so both
        versions' live accuracy rest on the same articles.
        """
        now = time.time() if now is None else now
        try:
            hit = self.index.get(prediction_id)
            if hit is None:
                raise NotFoundError(
                    f"no prediction {prediction_id!r}: unknown, not sampled into the log, or too old for feedback"
                )
            shadow = self.shadow_lookup(prediction_id) if self.shadow_lookup else None
            pipe = self.client.pipeline(transaction=True)
            self._add(pipe, hit.model_version, prediction_id, hit.label == label, now)
            if shadow is not None and shadow[0] != hit.model_version:
                self._add(pipe, shadow[0], prediction_id, shadow[1] == label, now)
            replaced = pipe.execute()[0] == 0  # zadd counts new members only
            self._prune(hit.model_version, now)
            if shadow is not None:
                self._prune(shadow[0], now)
        except redis.RedisError as exc:
            raise NotReadyError(f"feedback store (Redis) unavailable: {exc}") from None
        return FeedbackOutcome(prediction_id, hit.model_version, hit.label, label, hit.label == label, replaced)

    def _add(self, pipe: Any, version: str, prediction_id: str, correct: bool, now: float) -> None:
        times, verdicts = self._keys(version)
        pipe.zadd(times, {prediction_id: now})
        pipe.hset(verdicts, prediction_id, "1" if correct else "0")
        pipe.sadd(f"{PREFIX}fb:versions", version)
        pipe.hincrby(f"{PREFIX}fb:counts", f"{version}\x1f{int(correct)}", 1)
        bucket = int(now // HISTORY_BUCKET_S) * HISTORY_BUCKET_S
        pipe.hincrby(f"{PREFIX}fb:hist:{version}", f"{bucket}\x1f{int(correct)}", 1)
        pipe.expire(f"{PREFIX}fb:hist:{version}", HISTORY_KEEP_S)

    def _prune(self, version: str, now: float) -> None:
        """Drop feedback older than the window, and the oldest beyond `window_max` ids."""
        times, verdicts = self._keys(version)
        old = self.client.zrangebyscore(times, "-inf", now - self.window_s)
        extra = max(0, self.client.zcard(times) - len(old) - self.window_max)
        if extra:
            old += self.client.zrange(times, len(old), len(old) + extra - 1)
        if old:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(times, *old)
            pipe.hdel(verdicts, *old)
            pipe.execute()

    def versions(self) -> list[str]:
        members: set[Any] = self.client.smembers(f"{PREFIX}fb:versions")
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in members)

    def window(self, version: str, now: float | None = None) -> WindowStats:
        """Feedback count and correct count for one version within the window."""
        now = time.time() if now is None else now
        times, verdicts = self._keys(version)
        ids = self.client.zrangebyscore(times, now - self.window_s, "+inf")
        if not ids:
            return WindowStats(version, 0, 0)
        values = self.client.hmget(verdicts, ids)
        return WindowStats(version, sum(1 for v in values if v is not None), sum(1 for v in values if v in (b"1", "1")))

    def windows(self) -> list[WindowStats]:
        return [self.window(v) for v in self.versions()]

    def history(self, version: str, since: float) -> list[tuple[int, int, int]]:
        """(bucket start, feedback, correct) per 5-minute bucket since `since` (a replaced one counts again)."""
        raw: dict[Any, Any] = self.client.hgetall(f"{PREFIX}fb:hist:{version}")
        buckets: dict[int, list[int]] = {}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            bucket, _, correct = name.partition("\x1f")
            if int(bucket) >= since - HISTORY_BUCKET_S:
                row = buckets.setdefault(int(bucket), [0, 0])
                row[0] += int(value)
                row[1] += int(value) if correct == "1" else 0
        return [(b, n, c) for b, (n, c) in sorted(buckets.items())]

    def totals(self) -> dict[tuple[str, bool], int]:
        """(version, correct) -> feedback received ever (a replaced feedback counts twice)."""
        out: dict[tuple[str, bool], int] = {}
        raw: dict[Any, Any] = self.client.hgetall(f"{PREFIX}fb:counts")
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            version, _, correct = name.rpartition("\x1f")
            out[(version, correct == "1")] = int(value)
        return out
