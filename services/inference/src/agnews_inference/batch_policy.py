"""The batching and shedding knobs in one value, and how a request's work is estimated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# AG News test.csv (2,000 rows) with the MiniLM WordPiece vocabulary: 4.8 characters per wordpiece, 50 tokens per
# article with [CLS] and [SEP]; this estimate is within 2 % of the tokenizer's mean. Cheap enough for the event loop.
CHARS_PER_TOKEN = 4.8
MIN_PASS_TOKENS = 128


@dataclass(frozen=True)
class BatchPolicy:
    """The batching and shedding knobs (INFERENCE_* settings; see settings.py for what each means)."""

    token_budget: int = 1024
    max_pass_ms: float = 100.0
    max_batch_size: int = 32
    max_wait_ms: float = 0.0
    max_queue: int = 1024
    max_queue_delay_ms: float = 250.0
    deadline_ms: float = 1000.0
    max_tokens_per_text: int = 128

    def pass_budget(self, tokens_per_s: float | None) -> int:
        """Tokens one pass may take: the token budget, cut to what `max_pass_ms` allows at the measured speed.

        A request's latency past capacity is its queue wait plus one whole pass (its batch-mates' texts are
        computed with its own), so the pass length is bounded in time, whatever the CPU: about 20 articles on a
        fast 2-core machine, 9 on one a third as fast. Never below MIN_PASS_TOKENS (a pass has a fixed cost).
        """
        if not tokens_per_s or self.max_pass_ms <= 0:
            return self.token_budget
        return min(self.token_budget, max(MIN_PASS_TOKENS, int(tokens_per_s * self.max_pass_ms / 1000)))

    def cost(self, texts: Sequence[str]) -> int:
        """Estimated tokens of a request: characters / 4.8 plus [CLS]/[SEP], capped at the model's length."""
        cap = self.max_tokens_per_text
        return sum(min(cap, 2 + int(len(t) / CHARS_PER_TOKEN)) for t in texts)
