"""Every training knob, declared once: type, default, bounds, help text, and whether API callers may set it.

Everything else is derived from `TrainingKnobs`:
- the trainer's `TrainingConfig` is this model (agnews_trainer.types re-exports it);
- a run-config file's flat keys: `RunConfig` (agnews_trainer.config) inherits these fields;
- the `agnews-train run` flags: generated from the fields (`flag_name`, `flag_spec`);
- for knobs marked `api=True`: the body of POST /v1/training-jobs (`TrainingJobRequest` in schemas.py, every
  field optional there so that the worker's own default applies) and so the training task's allow-list.

It lives in agnews_core (no torch) because the gateway derives its request schema from it.
"""

from __future__ import annotations

import argparse
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

DEFAULT_PRESET = "minilm-blend"


def knob(default: Any, help: str, *, api: bool = False, flag: str | None = None, **bounds: Any) -> Any:
    """A knob's declaration; `api`: settable through POST /v1/training-jobs; `flag`: a CLI name other than --kebab."""
    extra: dict[str, Any] = {"api": api}
    if flag:
        extra["flag"] = flag
    return Field(default, description=help, json_schema_extra=extra, **bounds)


class TrainingKnobs(BaseModel):
    """What one training run does; defaults are the embedded CPU default's (minilm)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)

    preset: str = knob(
        DEFAULT_PRESET,
        "tfidf, minilm, minilm-blend, sbert, roberta, bert, albert, xlnet, or a model folder/hub id",
        api=True,
        max_length=200,
    )
    model_name_or_path: str | None = knob(None, "model folder or hub id overriding the preset's", flag="--model")
    epochs: float = knob(
        3.0, "passes over the training rows (an upper bound when a time budget is set)", api=True, gt=0, le=100
    )
    max_steps: int | None = knob(None, "stop after this many optimizer steps", api=True, gt=0)
    max_train_samples: int | None = knob(None, "train on a stratified subset of this many rows", api=True, gt=0)
    with_feedback: bool = knob(
        False, "add readers' feedback (the registry's prediction log) to the train split", api=True
    )
    time_budget_min: float | None = knob(
        None, "training minutes (the schedule anneals to fit); default: the preset's budget", api=True, gt=0, le=24 * 60
    )
    learning_rate: float | None = knob(None, "peak learning rate; default: the preset's", gt=0)
    batch_size: int | None = knob(None, "training batch size; default: the preset's", gt=0)
    eval_batch_size: int = knob(128, "validation batch size", gt=0)
    max_length: int = knob(128, "tokens per text, in training and as served", gt=0, le=4096)
    warmup_ratio: float = knob(0.06, "share of the schedule spent warming the learning rate up", ge=0, lt=1)
    weight_decay: float = knob(0.01, "AdamW weight decay (not on biases and norms)", ge=0)
    layer_lr_decay: float = knob(
        1.0, "layer-wise learning-rate decay: layer k below the top gets lr x decay^k (1: off)", gt=0, le=1
    )
    ema_decay: float | None = knob(
        None,
        "decay of an exponential moving average of the weights; validation, early stopping and the saved model"
        " use the average (0: off; default: the preset's)",
        ge=0,
        lt=1,
    )
    label_smoothing: float | None = knob(
        None, "label smoothing of the training loss (0: off; default: the preset's)", ge=0, lt=1
    )
    seed: int = knob(42, "random seed (data split, sampling, initialisation)")
    early_stopping_patience: int = knob(2, "validation passes without improvement before stopping (0: off)", ge=0)
    evals_per_epoch: int = knob(2, "validation passes per epoch", ge=1)
    resume: bool = knob(True, "resume from a checkpoint in the run folder when one exists")
    num_threads: int | None = knob(None, "torch CPU threads; default: physical cores", gt=0)
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = knob(
        "auto", "auto: bf16 on GPUs and on CPUs with native bf16, else fp32"
    )
    max_eval_samples: int | None = knob(2000, "validation rows used for early stopping (stratified)", gt=0)
    checkpoint_every_min: float = knob(10.0, "minutes between checkpoints (also at each validation pass)", gt=0)
    max_grad_norm: float | None = knob(1.0, "gradient clipping norm", gt=0)
    extra: dict[str, Any] = Field(
        default_factory=dict, description="kind-specific settings, e.g. tfidf_C, tfidf_min_df"
    )


def api_knobs() -> dict[str, FieldInfo]:
    """The knobs a POST /v1/training-jobs caller may set, by name."""
    return {
        name: info
        for name, info in TrainingKnobs.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("api")
    }


def optional_copy(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """(annotation | None, field defaulting to None) with the knob's bounds and help: for request bodies."""
    annotation: Any = info.annotation
    if not _is_optional(annotation):
        annotation = annotation | None
    copied = FieldInfo.merge_field_infos(info, default=None)
    copied.json_schema_extra = None
    return annotation, copied


def flag_name(name: str, info: FieldInfo) -> str:
    """The CLI flag of a field: its declared `flag`, else --kebab-case of its name."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def flag_spec(info: FieldInfo) -> dict[str, Any] | None:
    """argparse keyword arguments for a scalar field (type, choices, help); None for fields with no flag."""
    annotation = _strip_optional(info.annotation)
    spec: dict[str, Any] = {"help": info.description, "default": None}
    if annotation is bool:
        return {**spec, "action": argparse.BooleanOptionalAction}
    if get_origin(annotation) is Literal:
        return {**spec, "choices": list(get_args(annotation))}
    if annotation in (str, int, float):
        return {**spec, "type": annotation}
    if isinstance(annotation, type) and annotation.__name__.endswith("Path"):
        return {**spec, "type": annotation}
    return None


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _strip_optional(annotation: Any) -> Any:
    if _is_optional(annotation):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation
