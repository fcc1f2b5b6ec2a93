"""The tfidf kind: an sklearn pipeline with predict_proba, saved with joblib."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from agnews_core import labels
from agnews_core.errors import ConfigError

MODEL_FILE = "model.joblib"


class TfidfPredictor:
    """Reorders the estimator's columns (whatever its classes_ are) to model output order 0-3."""

    def __init__(self, estimator: Any, label_names: Sequence[str]) -> None:
        self.estimator = estimator
        self.columns = _column_order(list(estimator.classes_), label_names)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.asarray(self.estimator.predict_proba(list(texts)), dtype=np.float64)
        return probs[:, self.columns]


def _column_order(classes: list[Any], label_names: Sequence[str]) -> list[int]:
    """For each model output index, the estimator column holding it. classes_ may be indices, ids or names."""
    if all(isinstance(c, str) for c in classes):
        wanted: list[Any] = list(label_names)
    elif sorted(int(c) for c in classes) == list(range(labels.NUM_LABELS)):
        wanted = list(range(labels.NUM_LABELS))
    elif sorted(int(c) for c in classes) == [labels.index_to_label_id(i) for i in range(labels.NUM_LABELS)]:
        wanted = [labels.index_to_label_id(i) for i in range(labels.NUM_LABELS)]
    else:
        raise ConfigError(f"tfidf model classes {classes} are neither indices 0-3, ids 1-4 nor class names")
    try:
        return [classes.index(w) for w in wanted]
    except ValueError:
        raise ConfigError(f"tfidf model classes {classes} do not cover {wanted}") from None


def load_tfidf(model_dir: Path, label_names: Sequence[str]) -> TfidfPredictor:
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"tfidf model folder {model_dir} has no {MODEL_FILE}")
    return TfidfPredictor(joblib.load(path), label_names)
