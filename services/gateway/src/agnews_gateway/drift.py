"""Drift scores of the champion's recent traffic against its training data (agnews_core.drift has the counts).

The reference of each signal is in the model's data card: `per_class.train` for the label mix,
`text_length.train` for input length, `unknown_words.test` for the unknown-word share (the held-out split
against the training vocabulary: see agnews_core.drift). Versions are immutable, so a card is read once per
version.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import redis
from agnews_core.drift import SIGNALS, LiveCounts, js_divergence
from agnews_core.errors import AgnewsError
from agnews_core.labels import LABEL_NAMES
from agnews_core.registry import ModelRegistry

log = logging.getLogger(__name__)

_CARD_FIELD = {
    "label_mix": ("per_class", "train"),
    "input_length": ("text_length", "train"),
    "unknown_words": ("unknown_words", "test"),
}


@dataclass
class DriftReader:
    registry: ModelRegistry
    live: dict[str, LiveCounts]
    window_s: float
    _references: dict[tuple[str, str], dict[str, int] | None] = field(default_factory=dict)

    @classmethod
    def open(cls, registry: ModelRegistry, client: redis.Redis, window_s: float) -> DriftReader:
        return cls(registry, {signal: LiveCounts(client, signal) for signal in SIGNALS}, window_s)

    def reference(self, version: str, signal: str) -> dict[str, int] | None:
        """The training split's counts for `signal`, from the version's data card; None without one."""
        key = (version, signal)
        if key not in self._references:
            try:
                card = json.loads(self.registry.read_file(version, "data_card.json"))
                name, split = _CARD_FIELD[signal]
                counts = {str(k): int(v) for k, v in card[name][split].items()}
                if signal == "label_mix":
                    counts = {name: counts.get(name, 0) for name in LABEL_NAMES}
                self._references[key] = counts or None
            except (AgnewsError, ValueError, KeyError, TypeError) as exc:
                log.info("no %s reference for %s (%s): no drift score for it", signal, version, exc)
                self._references[key] = None
        return self._references[key]

    def window(self, version: str, signal: str, now: float | None = None) -> Counter[str]:
        return self.live[signal].window(version, self.window_s, now)

    def score(self, version: str, signal: str, now: float | None = None) -> float | None:
        return self.score_of(version, signal, self.window(version, signal, now))

    def score_of(self, version: str, signal: str, live: Counter[str]) -> float | None:
        """The divergence of counts already read: a summary scores the very window it shows."""
        reference = self.reference(version, signal)
        return js_divergence(live, reference) if reference and live else None

    def scores(self, version: str, now: float | None = None) -> dict[str, float | None]:
        now = time.time() if now is None else now
        return {signal: self.score(version, signal, now) for signal in SIGNALS}

    def history(self, version: str, signal: str, since: float) -> dict[int, tuple[Counter[str], float | None]]:
        """bucket start -> (counts, divergence of that bucket alone)."""
        reference = self.reference(version, signal)
        return {
            bucket: (counts, js_divergence(counts, reference) if reference and counts else None)
            for bucket, counts in self.live[signal].buckets(version, since).items()
        }
