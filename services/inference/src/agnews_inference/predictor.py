"""What a loaded model is to the rest of the server: texts in, class probabilities out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from agnews_core import labels
from agnews_core.drift import VOCABULARY_FILE
from agnews_core.errors import ConfigError


class Predictor(Protocol):
    """A model runtime. Called from the single inference thread only, so it need not be thread-safe."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(texts), 4), columns in model output order."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    """A warmed-up model and what is needed to turn its outputs into predictions."""

    version: str
    kind: str
    backend: str
    predictor: Predictor
    label_names: tuple[str, ...]
    """Class name of each output column, read from the model's own config."""
    label_ids: tuple[int, ...]
    """Dataset label id (1-4) of each output column."""
    vocabulary: frozenset[str] | None = None
    """The training split's words (vocabulary.txt) for the unknown_words drift signal; None if not published."""


def read_label_names(model_dir: Path) -> tuple[str, ...]:
    """Output column names from config.json's id2label, checked against the agnews classes."""
    path = model_dir / "config.json"
    try:
        id2label = json.loads(path.read_text())["id2label"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path} has no readable id2label ({exc}); the trainer writes it with every model") from None
    names = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    if len(names) != labels.NUM_LABELS:
        raise ConfigError(f"{path}: the model has {len(names)} outputs, agnews has {labels.NUM_LABELS} classes")
    for index, name in enumerate(names):
        try:
            ok = labels.label_id(name) == labels.index_to_label_id(index)
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"{path}: output {index} is {name!r}, but agnews expects {labels.id2label().get(index)!r} there"
            )
    return names


def read_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """vocabulary.txt of a version, published since the unknown_words drift signal; None for older ones."""
    try:
        return frozenset((model_dir / VOCABULARY_FILE).read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (so the four scores sum to 1 to within rounding), returned as float32."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
