"""The blend kind: one registry version holding several models whose probabilities are averaged with weights.

A blend folder holds `blend.json` and one sub-folder per part (each an ordinary tfidf or transformers model
folder); the weights were fitted by the trainer on validation rows only. Each part is loaded by its own
backend, so a blend of a transformer and tfidf is served as ONNX Runtime int8 + scikit-learn in one predictor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from agnews_core.errors import ConfigError

from agnews_inference.predictor import Predictor

BLEND_FILE = "blend.json"
PART_KINDS = ("transformers", "tfidf")


@dataclass(frozen=True)
class BlendPart:
    folder: str
    kind: str
    weight: float


def read_blend(model_dir: Path) -> list[BlendPart]:
    """The parts in blend.json, checked: known kinds, existing folders, weights >= 0 summing to 1."""
    path = model_dir / BLEND_FILE
    try:
        raw = json.loads(path.read_text())["parts"]
        parts = [BlendPart(str(p["folder"]), str(p["kind"]), float(p["weight"])) for p in raw]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a readable blend description: {exc}") from None
    if not parts or any(p.kind not in PART_KINDS or p.weight < 0 for p in parts):
        raise ConfigError(f"{path}: parts must be {' or '.join(PART_KINDS)} models with weights >= 0")
    if abs(sum(p.weight for p in parts) - 1.0) > 1e-6:
        raise ConfigError(f"{path}: part weights sum to {sum(p.weight for p in parts)}, not 1")
    for part in parts:
        if not (model_dir / part.folder).is_dir():
            raise ConfigError(f"{path}: part folder {part.folder!r} is missing")
    return parts


class BlendPredictor:
    """Weighted average of the parts' probabilities (columns are in the shared label order in every part)."""

    def __init__(self, parts: Sequence[tuple[float, Predictor]]) -> None:
        self.parts = list(parts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        total: np.ndarray | None = None
        for weight, predictor in self.parts:
            if weight == 0:
                continue
            probs = weight * np.asarray(predictor.predict_proba(texts), dtype=np.float64)
            total = probs if total is None else total + probs
        assert total is not None  # read_blend guarantees a positive weight
        return total


LoadPart = Callable[[Path, str], tuple[Predictor, str]]


def load_blend(model_dir: Path, load_part: LoadPart) -> tuple[BlendPredictor, str]:
    """A BlendPredictor whose parts `load_part(folder, kind)` loads; backend named like 'blend(onnx-int8+sklearn)'."""
    loaded = [(part.weight, *load_part(model_dir / part.folder, part.kind)) for part in read_blend(model_dir)]
    backend = "blend(" + "+".join(name for _, _, name in loaded) + ")"
    return BlendPredictor([(weight, predictor) for weight, predictor, _ in loaded]), backend
