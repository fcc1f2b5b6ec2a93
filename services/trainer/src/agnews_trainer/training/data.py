"""Batches for the training loop: stratified subsampling, length bucketing and dynamic padding.

Length bucketing: shuffle, cut into mega-batches of `mega_batches` batches, sort each by length, cut into
batches and shuffle the batch order. Batches hold rows of near-equal length, so padding wastes almost nothing,
while every epoch still sees a fresh random order. The order is a pure function of (seed, epoch), so a resumed
run rebuilds it and skips the batches it already did: the sampler position is just (epoch, batch index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .tokenize import Encoded


def stratified_subsample(frame: pd.DataFrame, n: int | None, seed: int, column: str = "label") -> pd.DataFrame:
    """At most n rows, keeping the class proportions (seeded); the frame itself when n is None or large."""
    if n is None or n >= len(frame):
        return frame
    if n <= 0:
        raise ValueError(f"sample size must be positive, got {n}")
    rng = np.random.default_rng(seed)
    picked: list[np.ndarray] = []
    counts = frame[column].value_counts()
    quotas = (counts / len(frame) * n).astype(int)
    # Hand the rounding leftovers to the largest classes so the total is exactly n.
    for label in counts.index[: n - int(quotas.sum())]:
        quotas[label] += 1
    for label, quota in quotas.items():
        rows = np.flatnonzero((frame[column] == label).to_numpy())
        picked.append(rng.choice(rows, size=min(int(quota), len(rows)), replace=False))
    index = np.sort(np.concatenate(picked))
    return frame.iloc[index].reset_index(drop=True)


def bucketed_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    mega_batches: int = 50,
    rank: int = 0,
    world_size: int = 1,
) -> list[np.ndarray]:
    """One epoch of row-index batches for this rank, length-bucketed, deterministic in (seed, epoch)."""
    lens = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lens))
    mega = batch_size * mega_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), mega):
        chunk = order[start : start + mega]
        chunk = chunk[np.argsort(-lens[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    perm = rng.permutation(len(batches))
    batches = [batches[i] for i in perm]
    if world_size > 1:
        # Every rank must run the same number of steps, or DDP's all-reduce waits forever.
        usable = len(batches) // world_size * world_size
        batches = batches[rank:usable:world_size]
    return batches


def steps_per_epoch(n_rows: int, batch_size: int, mega_batches: int = 50, world_size: int = 1) -> int:
    """How many batches `bucketed_batches` yields per epoch and rank."""
    mega = batch_size * mega_batches
    full, rest = divmod(n_rows, mega)
    total = full * mega_batches + -(-rest // batch_size)
    return total // world_size if world_size > 1 else total


class Collator:
    """Pads a list of rows to the longest one, on the tokenizer's padding side, and builds the attention mask."""

    def __init__(self, pad_token_id: int, padding_side: str = "right", pad_token_type_id: int = 0) -> None:
        self.pad_token_id = pad_token_id
        self.left = padding_side == "left"
        self.pad_token_type_id = pad_token_type_id

    def __call__(
        self, encoded: Encoded, rows: Sequence[int] | np.ndarray, labels: np.ndarray | None = None
    ) -> dict[str, Any]:
        ids = [encoded["input_ids"][i] for i in rows]
        width = max(len(r) for r in ids)
        batch: dict[str, Any] = {}
        input_ids = np.full((len(ids), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        types = None
        if "token_type_ids" in encoded:
            types = np.full((len(ids), width), self.pad_token_type_id, dtype=np.int64)
        for j, row in enumerate(ids):
            cols = slice(width - len(row), width) if self.left else slice(0, len(row))
            input_ids[j, cols] = row
            mask[j, cols] = 1
            if types is not None:
                types[j, cols] = encoded["token_type_ids"][rows[j]]
        batch["input_ids"] = torch.from_numpy(input_ids)
        batch["attention_mask"] = torch.from_numpy(mask)
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        if labels is not None:
            batch["labels"] = torch.from_numpy(np.asarray(labels[list(rows)], dtype=np.int64))
        return batch


def eval_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """Inference batches sorted by length (longest first, so memory peaks at once), split across ranks."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return batches[rank::world_size]
