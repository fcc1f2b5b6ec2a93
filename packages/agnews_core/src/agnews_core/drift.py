"""Drift of live traffic against the champion's training data: counts per time bucket in Redis, a divergence.

Two signals, each a distribution over a few categories:
- `label_mix`: the predicted labels, against the training split's class counts;
- `input_length`: model-input length in characters, bucketed by `LENGTH_EDGES`, against the same buckets of
  the training split. Length is the text-shape signal that needs no tokenizer and means the same for every
  model kind (tfidf has no "unknown token"): truncated feeds, boilerplate-only items or whole articles
  pasted where headlines were expected all move it.
Inference adds the counts of every logged prediction, per model version and per `BUCKET_S`-second bucket,
from its log thread (one pipelined HINCRBY batch per drained batch, never on the request path). The gateway
sums the buckets of the last window and compares them with the reference in the model's data card
(`data_card.json`: `per_class` and `text_length`, written by the trainer's ingestion).

The score is the Jensen-Shannon divergence in bits (0: same mix, 1: disjoint), symmetric and finite even
when a class is missing from one side, so one threshold fits every version. A stream of only Sports
against AG News' balanced classes scores about 0.55.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import cast

import redis

from agnews_core.feedback import PREFIX

BUCKET_S = 300
KEEP_S = 8 * 24 * 3600
SIGNALS = ("label_mix", "input_length")
LENGTH_EDGES = (50, 100, 150, 200, 250, 300, 400, 600, 1000)
"""Upper bounds (exclusive) of the length buckets; AG News title + description is mostly 100-400 characters."""


def length_bucket(chars: int) -> str:
    """'<50', '50-99', ..., '1000+': the bucket of a model input of `chars` characters."""
    low = 0
    for edge in LENGTH_EDGES:
        if chars < edge:
            return f"<{edge}" if low == 0 else f"{low}-{edge - 1}"
        low = edge
    return f"{LENGTH_EDGES[-1]}+"


def length_histogram(lengths: Iterable[int]) -> dict[str, int]:
    """Counts per length bucket, every bucket present (in order)."""
    counts = Counter(length_bucket(n) for n in lengths)
    names = [length_bucket(0)] + [length_bucket(e) for e in LENGTH_EDGES]
    return {name: counts.get(name, 0) for name in names}


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence (base 2) of two count or probability maps; 0.0 when either is empty."""
    keys = set(p) | set(q)
    sp, sq = sum(p.values()), sum(q.values())
    if sp <= 0 or sq <= 0:
        return 0.0
    total = 0.0
    for k in keys:
        a, b = p.get(k, 0.0) / sp, q.get(k, 0.0) / sq
        m = (a + b) / 2
        if a > 0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0:
            total += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, total))


class LiveCounts:
    """Counts of one signal's categories (labels, length buckets) per model version and time bucket."""

    def __init__(self, client: redis.Redis, signal: str) -> None:
        self.client = client
        self.signal = signal

    def _key(self, version: str) -> str:
        return f"{PREFIX}live:{self.signal}:{version}"

    def add(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """(model_version, category, unix time) rows, in one round trip."""
        counts = Counter((version, int(at // BUCKET_S) * BUCKET_S, label) for version, label, at in rows)
        if not counts:
            return
        pipe = self.client.pipeline(transaction=False)
        for (version, bucket, label), n in counts.items():
            pipe.hincrby(self._key(version), f"{bucket}\x1f{label}", n)
        for version in {v for v, _, _ in counts}:
            pipe.expire(self._key(version), KEEP_S)
        pipe.execute()

    def buckets(self, version: str, since: float) -> dict[int, Counter[str]]:
        """bucket start (unix s) -> category counts, for buckets starting at or after `since`."""
        raw: Mapping[object, object] = self.client.hgetall(self._key(version))
        out: dict[int, Counter[str]] = {}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            bucket, _, label = name.partition("\x1f")
            if int(bucket) >= since - BUCKET_S:
                out.setdefault(int(bucket), Counter())[label] += int(cast(str, value))
        return dict(sorted(out.items()))

    def window(self, version: str, window_s: float, now: float | None = None) -> Counter[str]:
        now = time.time() if now is None else now
        total: Counter[str] = Counter()
        for counts in self.buckets(version, now - window_s).values():
            total.update(counts)
        return total
