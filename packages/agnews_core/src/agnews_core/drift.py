"""Drift of live traffic against the champion's training data: counts per time bucket in Redis, a divergence.

Three signals, each a distribution over a few categories:
- `label_mix`: the predicted labels, against the training split's class counts;
- `input_length`: model-input length in characters, bucketed by `LENGTH_EDGES`, against the same buckets of
  the training split: truncated feeds, boilerplate-only items or whole articles pasted where snippets were
  expected all move it;
- `unknown_words`: the share of a text's words that are not in the training vocabulary (`VOCABULARY_FILE`,
  the words seen at least `VOCABULARY_MIN_COUNT` times in the training split), bucketed by `UNKNOWN_EDGES`,
  against the same buckets of the held-out test split (new texts measured against the full training
  vocabulary, as in production; the training split measured against its own vocabulary would understate it).
  This is the unknown-token rate of word-level NLP, made model-independent: WordPiece and BPE tokenizers
  almost never emit [UNK] (they fall back to sub-word pieces) and tfidf has no such token, yet new names and
  topics, another language, markup or spam all raise the share of words the training data never had.
Inference adds the counts of every logged prediction, per model version and per `BUCKET_S`-second bucket,
from its log thread (one pipelined HINCRBY batch per drained batch, never on the request path). The gateway
sums the buckets of the last window and compares them with the reference in the model's data card
(`data_card.json`: `per_class`, `text_length` and `unknown_words`, written by the trainer's ingestion).

The score is the Jensen-Shannon divergence in bits (0: same mix, 1: disjoint), symmetric and finite even
when a class is missing from one side, so one threshold fits every version. A stream of only Sports
against AG News' balanced classes scores about 0.55.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Set
from typing import cast

import redis

from agnews_core.feedback import PREFIX

BUCKET_S = 300
KEEP_S = 8 * 24 * 3600
SIGNALS = ("label_mix", "input_length", "unknown_words")
LENGTH_EDGES = (50, 100, 150, 200, 250, 300, 400, 600, 1000)
"""Upper bounds (exclusive) of the length buckets; AG News title + description is mostly 100-400 characters."""


def _bucket_names(
    edges: tuple[float, ...], span: Callable[[float, float], str], fmt: Callable[[float], str]
) -> tuple[str, ...]:
    """'<first', one `span(low, high)` per pair of edges, 'last+': the names of the buckets `edges` bound."""
    middle = tuple(span(low, high) for low, high in itertools.pairwise(edges))
    return (f"<{fmt(edges[0])}", *middle, f"{fmt(edges[-1])}+")


LENGTH_BUCKETS = _bucket_names(LENGTH_EDGES, lambda low, high: f"{low:.0f}-{high - 1:.0f}", lambda e: f"{e:.0f}")
"""'<50', '50-99', ..., '1000+'."""


def length_bucket(chars: int) -> str:
    """'<50', '50-99', ..., '1000+': the bucket of a model input of `chars` characters."""
    return LENGTH_BUCKETS[bisect.bisect_right(LENGTH_EDGES, chars)]


VOCABULARY_FILE = "vocabulary.txt"
"""One word per line, in every registered version whose ingestion wrote it (agnews-train since this signal)."""
VOCABULARY_MIN_COUNT = 2
"""Words seen once are mostly typos and one-off names: they would make the vocabulary twice as big for little."""
UNKNOWN_EDGES = (0.02, 0.05, 0.10, 0.20, 0.40)
"""Upper bounds (exclusive) of the unknown-word-share buckets; most AG News test texts fall under 5%."""
UNKNOWN_BUCKETS = _bucket_names(UNKNOWN_EDGES, lambda low, high: f"{low:.0%}-{high:.0%}", lambda e: f"{e:.0%}")
"""'<2%', '2%-5%', ..., '40%+'."""
NO_WORDS = "no words"
# Letters only: numbers (scores, prices, years) change every day and are no sign of a vocabulary shift.
_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The lower-cased words of a text, as the vocabulary counts them."""
    return _WORD.findall(text.lower())


def build_vocabulary(texts: Iterable[str], min_count: int = VOCABULARY_MIN_COUNT) -> list[str]:
    """The words seen at least `min_count` times in `texts`, sorted (stable file content for one dataset)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    return sorted(word for word, n in counts.items() if n >= min_count)


def unknown_share(text: str, vocabulary: Set[str]) -> float | None:
    """The share of the text's words outside `vocabulary`; None for a text without words."""
    found = words(text)
    if not found:
        return None
    return sum(word not in vocabulary for word in found) / len(found)


def unknown_bucket(share: float | None) -> str:
    """'<2%', '2%-5%', ..., '40%+' for an unknown-word share; 'no words' for None."""
    return NO_WORDS if share is None else UNKNOWN_BUCKETS[bisect.bisect_right(UNKNOWN_EDGES, share)]


def unknown_histogram(texts: Iterable[str], vocabulary: Set[str]) -> dict[str, int]:
    """Counts per unknown-share bucket, every bucket present (in order)."""
    counts = Counter(unknown_bucket(unknown_share(text, vocabulary)) for text in texts)
    return {name: counts.get(name, 0) for name in (NO_WORDS, *UNKNOWN_BUCKETS)}


def length_histogram(lengths: Iterable[int]) -> dict[str, int]:
    """Counts per length bucket, every bucket present (in order)."""
    counts = Counter(length_bucket(n) for n in lengths)
    return {name: counts.get(name, 0) for name in LENGTH_BUCKETS}


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
