"""Score a model folder exactly as agnews-inference serves it: its loader, its default runtime, its limits.

The figure users get is the served one (for transformers, ONNX Runtime int8 at the trained max length), so
evaluation runs the inference package's own `load_predictor` with the inference service's default settings,
and its input truncation (`max_chars`), instead of re-implementing any of it. The fp32 reference is the same
loader with the `torch` runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agnews_inference.predictor import Predictor

FP32_BACKEND = "torch"


@dataclass
class ServedModel:
    """A loaded predictor, the backend it runs on, and the input limits inference applies in front of it."""

    predictor: Predictor
    backend: str
    max_length: int
    max_chars: int

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.predictor.predict_proba([t[: self.max_chars] for t in texts]), dtype=np.float64)


def load_served(
    model_dir: Path, kind: str, *, max_length: int, cache_dir: Path, backend: str | None = None
) -> ServedModel:
    """The model as served by default (`backend` None), or on another inference runtime ('torch': fp32)."""
    from agnews_inference.loader import load_predictor
    from agnews_inference.settings import InferenceSettings

    # model_construct: the inference service's defaults, not this process's INFERENCE_* environment.
    settings = InferenceSettings.model_construct()
    settings = settings.model_copy(update={"cache_dir": cache_dir} | ({"backend": backend} if backend else {}))
    key = f"eval-{backend or settings.backend}"
    predictor, used = load_predictor(Path(model_dir), kind, settings, cache_key=key, max_length=max_length)
    return ServedModel(predictor, used, max_length, settings.max_chars)
