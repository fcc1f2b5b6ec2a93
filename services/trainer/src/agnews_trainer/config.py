"""Run configuration: what one pipeline run does, and the worker's environment settings.

Precedence, lowest first: `TrainerSettings` (TRAINER_* environment) < a YAML file (`--config`) < CLI flags
(or the Celery task's parameters). `RunConfig` is the one object the pipeline receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from agnews_core.errors import ConfigError
from agnews_core.settings import RegistrySettings
from agnews_core.training_knobs import DEFAULT_PRESET, TrainingKnobs
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import SettingsConfigDict

from agnews_trainer.types import TrainingConfig

DEFAULT_DATA = "hf:fancyzhx/ag_news"
DEFAULT_WORK_DIR = Path(".run/trainer")


class ValidationThresholds(BaseModel):
    """Where a data finding stops being a warning and becomes a hard failure.

    Defaults accept the real AG News files (6 texts with conflicting labels, 6 `#NAME?` cells) with
    warnings, and stop on data no model should be trained on.
    """

    model_config = ConfigDict(extra="forbid")

    max_text_chars: int = Field(5000, gt=0, description="longer title+description is a hard failure")
    min_text_chars: int = Field(10, ge=0, description="shorter (but non-empty) text is a warning")
    max_empty_rows: int = Field(0, ge=0, description="rows with empty/whitespace text allowed before failing")
    max_duplicate_fraction: float = Field(0.05, ge=0, le=1, description="exact duplicate rows per split")
    max_conflict_fraction: float = Field(0.01, ge=0, le=1, description="texts seen with two different labels")
    max_leakage_fraction: float = Field(0.05, ge=0, le=1, description="test texts that also appear in train")
    min_class_ratio: float = Field(0.5, ge=0, le=1, description="smallest/largest class below this warns")
    min_rows_per_class: int = Field(1, ge=1, description="fewer train rows in any class is a hard failure")
    max_placeholder_fraction: float = Field(0.01, ge=0, le=1, description="`#NAME?`-style spreadsheet cells")


class RunConfig(TrainingKnobs):
    """Everything one `agnews-train run` (or one training job) needs: the training knobs (inherited, flat keys)
    plus where data, registry and run folder are and how promotion decides."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: str = Field(DEFAULT_DATA, description="Kaggle folder, .zip, s3://bucket/key.zip or hf:<dataset id>")
    registry_uri: str = Field("registry", description="folder, file:///path or s3://bucket/prefix")
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    work_dir: Path = Field(DEFAULT_WORK_DIR, description="runs/<id>/ and caches go here (default: $TRAINER_WORK_DIR)")
    run_dir: Path | None = Field(None, description="this run's folder (default: <work-dir>/runs/<run id>)")

    validation: ValidationThresholds = Field(default_factory=ValidationThresholds)
    val_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of train carved out for validation")
    max_val_samples: int | None = Field(2000, gt=0, description="cap: evaluating a big validation split wastes CPU")

    promote: bool = Field(True, description="move the champion alias when the new version is better")
    promotion_metric: Literal["accuracy", "macro_f1"] = Field("accuracy", description="served metric compared")
    promotion_min_delta: float = Field(
        0.0,
        ge=0,
        description="margin the candidate must beat the champion by",
        json_schema_extra={"flag": "--min-delta"},
    )
    promotion_alpha: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="also require a significant gain: exact McNemar p-value below this on the shared test rows",
    )
    latency_samples: int = Field(32, ge=0, description="single-text predictions timed for the latency figure")

    def training_config(self) -> TrainingConfig:
        """The TrainingConfig handed to `train_model`: this config's knob fields."""
        return TrainingConfig.model_validate({name: getattr(self, name) for name in TrainingKnobs.model_fields})


class TrainerSettings(RegistrySettings):
    """The trainer's environment (TRAINER_*): defaults for the CLI and the Celery worker."""

    model_config = SettingsConfigDict(env_prefix="TRAINER_", extra="ignore", protected_namespaces=())

    data: str = DEFAULT_DATA
    work_dir: Path = DEFAULT_WORK_DIR
    preset: str = DEFAULT_PRESET
    time_budget_min: float | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    metrics_port: int = 9101
    promotion_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    promotion_min_delta: float = 0.0
    promotion_alpha: float | None = None

    def run_config(self, **overrides: Any) -> RunConfig:
        """A RunConfig from these settings, with `overrides` (None values ignored) on top."""
        base: dict[str, Any] = {
            "data": self.data,
            "registry_uri": self.registry_uri,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_region": self.s3_region,
            "work_dir": self.work_dir,
            "preset": self.preset,
            "time_budget_min": self.time_budget_min,
            "promotion_metric": self.promotion_metric,
            "promotion_min_delta": self.promotion_min_delta,
            "promotion_alpha": self.promotion_alpha,
        }
        return build_run_config(base, {k: v for k, v in overrides.items() if v is not None})


def load_yaml_config(path: Path) -> dict[str, Any]:
    """The mapping in a YAML run-config file."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of RunConfig fields")
    return loaded


def build_run_config(*layers: dict[str, Any]) -> RunConfig:
    """Merge layers (later wins; nested `validation` and `extra` merge key by key) into a RunConfig."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in ("validation", "extra") and isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid run configuration: {problems}") from None
