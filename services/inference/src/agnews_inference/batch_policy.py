"""The batching and shedding knobs in one value, and how a request's work is estimated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# AG News test.csv (2,000 rows) with the MiniLM WordPiece vocabulary: 4.8 characters per wordpiece, 50 tokens per
# article with [CLS] and [SEP]; this estimate is within 2 % of the tokenizer's mean. Cheap enough for the event loop.
CHARS_PER_TOKEN = 4.8


@dataclass(frozen=True)
class BatchPolicy:
    """The batching and shedding knobs (INFERENCE_* settings; see settings.py for what each means)."""

    token_budget: int = 1024
    max_batch_size: int = 32
    max_wait_ms: float = 0.0
    max_queue: int = 1024
    max_queue_delay_ms: float = 250.0
    deadline_ms: float = 1000.0
    max_tokens_per_text: int = 128

    def cost(self, texts: Sequence[str]) -> int:
        """Estimated tokens of a request: characters / 4.8 plus [CLS]/[SEP], capped at the model's length."""
        cap = self.max_tokens_per_text
        return sum(min(cap, 2 + int(len(t) / CHARS_PER_TOKEN)) for t in texts)
