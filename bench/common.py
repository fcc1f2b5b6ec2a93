"""Shared helpers for the benchmark scripts: load the Kaggle AG News CSVs, carve a validation split, print tables."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for src in ("packages/agnews_core/src", "services/trainer/src"):
    if str(REPO / src) not in sys.path:
        sys.path.insert(0, str(REPO / src))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from agnews_core.labels import label_id_to_index  # noqa: E402
from agnews_core.text import model_input  # noqa: E402
from agnews_trainer.types import Splits  # noqa: E402


def load_csv(path: Path) -> pd.DataFrame:
    """A Kaggle AG News CSV (with or without header) as columns text (model input) and label (0-3)."""
    with path.open(encoding="utf-8") as f:
        first = f.readline()
    header = 0 if not first.split(",", 1)[0].strip().strip('"').isdigit() else None
    raw = pd.read_csv(path, header=header, names=["label", "title", "description"], dtype=str, keep_default_na=False)
    text = [model_input(t, d) for t, d in zip(raw["title"], raw["description"], strict=True)]
    labels = [label_id_to_index(int(x)) for x in raw["label"]]
    return pd.DataFrame({"text": text, "label": labels})


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_splits(data: Path, val_fraction: float = 0.05, seed: int = 42) -> Splits:
    """train.csv minus a stratified validation slice, validation, and test.csv."""
    from sklearn.model_selection import train_test_split

    train_all = load_csv(data / "train.csv")
    test = load_csv(data / "test.csv")
    train, val = train_test_split(train_all, test_size=val_fraction, stratify=train_all["label"], random_state=seed)
    return Splits(
        train=train.reset_index(drop=True),
        validation=val.reset_index(drop=True),
        test=test,
        test_data_hash=file_hash(data / "test.csv"),
        train_data_hash=file_hash(data / "train.csv"),
    )


def table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """A plain fixed-width table."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)
