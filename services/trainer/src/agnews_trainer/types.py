"""Types the pipeline stages and the training package agree on.

`pipeline.py` composes the stages; `training/` turns Splits into a saved model. Keep these small: they are
the seams tests and the Celery task rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from agnews_core.training_knobs import TrainingKnobs

ModelKind = Literal["transformers", "tfidf", "blend"]

ProgressFn = Callable[[float, str], None]
"""progress(fraction 0-1, message): stages report here; the Celery task forwards it to the job record."""

RunProgressFn = Callable[[float, str, float | None], None]
"""progress(fraction of the whole run, message, estimated seconds left or None): what run_pipeline reports."""

CancelFn = Callable[[], bool]
"""True when the run should stop as soon as it safely can (job cancelled)."""


@dataclass
class Splits:
    """Model-ready data: each frame has columns `text` (shared text function applied) and `label` (0-3)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    test_data_hash: str
    train_data_hash: str


class TrainingConfig(TrainingKnobs):
    """Every training knob (declared once, in agnews_core.training_knobs, with types, bounds and help)."""


@dataclass
class TrainResult:
    """What training produced: a folder ready to publish, plus how the run went."""

    kind: ModelKind
    model_dir: Path  # HF save_pretrained + tokenizer, or tfidf model.joblib; config.json has id2label/label2id
    base_model: str | None
    stats: dict[str, Any]  # seconds, steps, examples_per_s, stopped_reason, best_val_accuracy, device, ...
