"""Types the pipeline stages and the training package agree on.

`pipeline.py` composes the stages; `training/` turns Splits into a saved model. Keep these small: they are
the seams tests and the Celery task rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

ModelKind = Literal["transformers", "tfidf"]

ProgressFn = Callable[[float, str], None]
"""progress(fraction 0-1, message): stages report here; the Celery task forwards it to the job record."""

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


@dataclass
class TrainingConfig:
    """Every training knob, with defaults good for the embedded CPU default (minilm)."""

    preset: str = "minilm"
    model_name_or_path: str | None = None  # overrides the preset's model
    epochs: float = 3.0
    max_steps: int | None = None
    max_train_samples: int | None = None
    time_budget_min: float | None = None
    learning_rate: float | None = None  # None: the preset's
    batch_size: int | None = None  # None: the preset's
    eval_batch_size: int = 128
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 42
    early_stopping_patience: int = 2  # evaluations without improvement on validation
    evals_per_epoch: int = 2
    resume: bool = True  # resume from a checkpoint in the work folder when one exists
    num_threads: int | None = None  # torch CPU threads; None: physical cores
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    max_eval_samples: int | None = 2000  # validation rows used for early stopping (stratified); None: all
    checkpoint_every_min: float = 10.0  # also checkpoint at each validation pass
    max_grad_norm: float | None = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What training produced: a folder ready to publish, plus how the run went."""

    kind: ModelKind
    model_dir: Path  # HF save_pretrained + tokenizer, or tfidf model.joblib; config.json has id2label/label2id
    base_model: str | None
    stats: dict[str, Any]  # seconds, steps, examples_per_s, stopped_reason, best_val_accuracy, device, ...
