"""Fast-tokenizer tokenization without padding: the collator pads each batch to its own longest row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agnews_core.errors import ConfigError

Encoded = dict[str, list[list[int]]]
"""Column name -> one list of token ids per text (`input_ids`, and `token_type_ids` when they carry information)."""


def load_tokenizer(name_or_path: str | Path) -> Any:
    """A fast (Rust) tokenizer for a model folder or hub id; ConfigError when only a slow one exists."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"{name_or_path} has no fast tokenizer (tokenizer.json); agnews needs one")
    return tokenizer


def tokenize_texts(tokenizer: Any, texts: Sequence[str], max_length: int = 128) -> Encoded:
    """Token ids of each text, truncated to max_length, special tokens added, unpadded."""
    if max_length < 4:
        raise ConfigError(f"max_length must be at least 4, got {max_length}")
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
    )
    out: Encoded = {"input_ids": list(enc["input_ids"])}
    # Most encoders give all-zero segment ids for one sentence: drop them (the model defaults to zeros) rather
    # than pad and copy them every step. XLNet marks its <cls> with segment 2, so keep those.
    types = enc.get("token_type_ids")
    if types is not None and any(any(row) for row in types):
        out["token_type_ids"] = list(types)
    return out


def lengths(encoded: Encoded) -> list[int]:
    """Tokens per text."""
    return [len(row) for row in encoded["input_ids"]]
