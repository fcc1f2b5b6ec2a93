"""The tfidf kind: an sklearn pipeline with predict_proba, saved by the trainer as model.skops.

Loading must not run code from the registry: model.skops is read by skops, which rebuilds only the types
we allow (scikit-learn, numpy and scipy ones) and refuses anything else (a function, a builtin). The older
model.joblib is a pickle (loading one can run anything it names), read only with INFERENCE_ALLOW_PICKLE=true.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from agnews_core import labels
from agnews_core.errors import ConfigError

MODEL_FILE = "model.skops"
PICKLE_FILE = "model.joblib"
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")

logger = logging.getLogger(__name__)


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


def load_tfidf(model_dir: Path, label_names: Sequence[str], *, allow_pickle: bool = False) -> TfidfPredictor:
    safe, pickled = model_dir / MODEL_FILE, model_dir / PICKLE_FILE
    if safe.is_file():
        return TfidfPredictor(_load_skops(safe), label_names)
    if pickled.is_file() and allow_pickle:
        import joblib

        logger.warning("loading %s, a pickle, because INFERENCE_ALLOW_PICKLE is on", pickled)
        return TfidfPredictor(joblib.load(pickled), label_names)
    if pickled.is_file():
        raise ConfigError(
            f"tfidf model folder {model_dir.name} holds only {PICKLE_FILE}, a pickle that can run code when loaded: "
            "republish it with the trainer (it writes model.skops), or set INFERENCE_ALLOW_PICKLE=true for a "
            "registry only you can write"
        )
    raise ConfigError(f"tfidf model folder {model_dir} has no {MODEL_FILE}")


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(SAFE_TYPE_PREFIXES)]
    if refused:
        raise ConfigError(f"{path.name} holds types outside scikit-learn, numpy and scipy: {refused[:5]}; refused")
    return sio.load(path, trusted=untrusted)
