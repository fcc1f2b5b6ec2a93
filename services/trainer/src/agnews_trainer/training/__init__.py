"""Training: turn Splits into a saved, ready-to-publish model folder.

    from agnews_trainer.training import train_model, predict_proba

`train_model` dispatches on the preset: `tfidf` fits a scikit-learn pipeline (tfidf.py), `blend` presets
train both and blend them (blend.py); everything else fine-tunes a Hugging Face encoder with our own loop
(loop.py). Heavy libraries load inside the functions, so
importing this package is cheap. Multi-GPU: see runtime.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..types import CancelFn, ModelKind, ProgressFn, Splits, TrainingConfig, TrainResult
from .presets import PRESETS, ResolvedModel, resolve_for_config, resolve_model

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PRESETS", "ResolvedModel", "predict_proba", "resolve_model", "train_model"]


def train_model(
    config: TrainingConfig,
    splits: Splits,
    out_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> TrainResult:
    """Train the configured model; out_dir receives the model folder, out_dir.parent/"checkpoints" the resumable state.

    `on_checkpoint(folder)` runs after each checkpoint is saved (transformer and blend runs; tfidf fits in one go).

    Returns even when stopped early (time budget, early stopping, cancel): `stats["stopped_reason"]` says why,
    and the saved weights are the best seen on validation.
    """
    resolved = resolve_for_config(config)
    out_dir = Path(out_dir)
    if resolved.kind == "tfidf":
        from .tfidf import train_tfidf

        return train_tfidf(config, splits, out_dir, progress, cancel)
    if resolved.kind == "blend":
        from .blend import train_blend

        return train_blend(config, splits, out_dir, resolved, progress, cancel, on_checkpoint=on_checkpoint)
    from .loop import train_transformer

    return train_transformer(config, splits, out_dir, resolved, progress, cancel, on_checkpoint=on_checkpoint)


def predict_proba(model_dir: Path, kind: ModelKind, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """n x 4 probabilities (column i = model index i = dataset label i + 1); the model is loaded once and cached."""
    from .predict import predict_proba as _predict

    return _predict(Path(model_dir), kind, texts, batch_size)
