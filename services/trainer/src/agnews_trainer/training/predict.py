"""Batched inference for both model kinds: n x 4 probabilities, column i = model index i (dataset label i + 1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from agnews_core.errors import ConfigError
from agnews_core.labels import NUM_LABELS

from ..types import ModelKind
from .data import Collator, eval_batches
from .tokenize import Encoded, tokenize_texts


def collator_for(tokenizer: Any) -> Collator:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Collator(pad, tokenizer.padding_side, getattr(tokenizer, "pad_token_type_id", 0) or 0)


@torch.inference_mode()
def predict_logits(
    model: Any,
    encoded: Encoded,
    collator: Collator,
    batch_size: int,
    device: torch.device,
    autocast: AbstractContextManager[Any] | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the rows this rank handles, and their row indices. Rows run sorted by length (little padding)."""
    lengths = [len(r) for r in encoded["input_ids"]]
    was_training = model.training
    model.eval()
    rows_out: list[np.ndarray] = []
    logits_out: list[np.ndarray] = []
    try:
        # One context for all batches: accelerate's autocast() is a single-use generator context manager.
        with autocast or nullcontext():
            for rows in eval_batches(lengths, batch_size, rank, world_size):
                batch = {k: v.to(device, non_blocking=True) for k, v in collator(encoded, rows).items()}
                logits_out.append(model(**batch).logits.float().cpu().numpy())
                rows_out.append(rows)
    finally:
        model.train(was_training)
    if not rows_out:
        return np.zeros((0, NUM_LABELS), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(logits_out), np.concatenate(rows_out)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class TransformerClassifier:
    """A saved sequence-classification model with its tokenizer, ready for batched inference."""

    model: Any
    tokenizer: Any
    max_length: int
    device: torch.device

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, NUM_LABELS), dtype=np.float32)
        encoded = tokenize_texts(self.tokenizer, texts, self.max_length)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else None
        logits, rows = predict_logits(
            self.model, encoded, collator_for(self.tokenizer), batch_size, self.device, autocast
        )
        out = np.empty_like(logits)
        out[rows] = softmax(logits)
        return out


@dataclass
class TfidfClassifier:
    """A scikit-learn pipeline saved as model.joblib."""

    pipeline: Any

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, NUM_LABELS), dtype=np.float64)
        return np.asarray(self.pipeline.predict_proba(list(texts)))


Classifier = TransformerClassifier | TfidfClassifier


def read_kind(model_dir: Path) -> ModelKind:
    """The kind recorded in a saved model's config.json."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{model_dir} holds no readable config.json: {err}") from err
    kind = config.get("agnews_kind")
    return kind if kind in ("tfidf", "blend") else "transformers"


def load_classifier(model_dir: Path, kind: ModelKind | None = None) -> Classifier:
    """Load a model folder written by train_model, once; call predict_proba on it as often as needed."""
    model_dir = Path(model_dir)
    kind = kind or read_kind(model_dir)
    if kind == "blend":
        raise ConfigError(f"{model_dir} is a blend: score it as served with agnews_trainer.served.load_served")
    if kind == "tfidf":
        import joblib

        return TfidfClassifier(joblib.load(model_dir / "model.joblib"))
    from transformers import AutoModelForSequenceClassification

    from .tokenize import load_tokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).to(device).eval()
    tokenizer = load_tokenizer(model_dir)
    max_length = int(getattr(model.config, "agnews_max_length", 0) or min(tokenizer.model_max_length, 512))
    return TransformerClassifier(model, tokenizer, max_length, device)


@lru_cache(maxsize=2)
def _cached(model_dir: str, kind: ModelKind, mtime_ns: int) -> Classifier:
    return load_classifier(Path(model_dir), kind)


def predict_proba(model_dir: Path, kind: ModelKind, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """n x 4 class probabilities for texts (already passed through agnews_core.text.model_input)."""
    config = Path(model_dir) / "config.json"
    mtime = config.stat().st_mtime_ns if config.exists() else 0
    return _cached(str(Path(model_dir).resolve()), kind, mtime).predict_proba(texts, batch_size)
