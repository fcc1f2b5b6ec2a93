"""Checkpoints: enough to continue a run exactly where it stopped.

A checkpoint folder holds the model and optimizer state, the loop state (step, training clock, best
validation accuracy, early-stopping counter, history), the RNG states, the best weights so far and, when the run
keeps one, the moving average of the weights (averaging.py). The sampler
position is the step itself (see data.py). It is written to a temporary folder and swapped in with renames, so
a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

CURRENT = "last"
STATE_FILE = "state.json"


@dataclass
class LoopState:
    """Everything about the loop's progress that is not a tensor."""

    fingerprint: str = ""
    step: int = 0
    examples: int = 0
    tokens: int = 0
    train_seconds: float = 0.0  # the training clock: steps, validation and checkpoints, not bench snapshots
    step_seconds: float = 0.0  # optimizer steps only, for examples/s
    best_accuracy: float = -1.0
    best_step: int = -1
    evals_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        """Load, ignoring keys a newer version may have added."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def fingerprint(**fields: Any) -> str:
    """A short hash of what must match for a checkpoint to be resumed (model, data, hyperparameters)."""
    blob = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    work_dir: Path,
    state: LoopState,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    best_state: dict[str, torch.Tensor] | None,
    average_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to work_dir/last atomically; return its folder."""
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp, final, old = work_dir / f".{CURRENT}.tmp", work_dir / CURRENT, work_dir / f".{CURRENT}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(model_state, tmp / "model.pt")
    torch.save(optimizer_state, tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    if best_state is not None:
        torch.save(best_state, tmp / "best.pt")
    if average_state is not None:
        torch.save(average_state, tmp / "average.pt")
    (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


@dataclass
class Checkpoint:
    folder: Path
    state: LoopState

    def model_state(self) -> dict[str, torch.Tensor]:
        return dict(torch.load(self.folder / "model.pt", map_location="cpu", weights_only=True))

    def optimizer_state(self) -> dict[str, Any]:
        return dict(torch.load(self.folder / "optimizer.pt", map_location="cpu", weights_only=True))

    def best_state(self) -> dict[str, torch.Tensor] | None:
        path = self.folder / "best.pt"
        return dict(torch.load(path, map_location="cpu", weights_only=True)) if path.exists() else None

    def average_state(self) -> dict[str, Any] | None:
        path = self.folder / "average.pt"
        return dict(torch.load(path, map_location="cpu", weights_only=True)) if path.exists() else None

    def restore_rng(self) -> None:
        # RNG states hold numpy/python objects, so they cannot load with weights_only; we wrote this file.
        set_rng_state(torch.load(self.folder / "rng.pt", weights_only=False))


def find_checkpoint(work_dir: Path, expected_fingerprint: str) -> Checkpoint | None:
    """The resumable checkpoint in work_dir, or None (none, unreadable, or from a different run setup)."""
    for name in (CURRENT, f".{CURRENT}.old"):  # .old survives a crash between the two renames
        folder = work_dir / name
        try:
            state = LoopState.from_json(json.loads((folder / STATE_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if state.fingerprint == expected_fingerprint:
            return Checkpoint(folder, state)
    return None
