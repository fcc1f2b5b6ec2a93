"""Stage 3, transformation: validated rows in, model-ready splits out.

Model input comes from `agnews_core.text.model_input`, the function inference calls too (no train/serve
skew). Validation is carved from train, stratified and seeded, so reruns on the same data give the same
split. Tokenization belongs to the training package: it depends on the model's tokenizer.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from agnews_core.errors import DataValidationError
from agnews_core.labels import NUM_LABELS, label_id_to_index
from agnews_core.text import model_input
from sklearn.model_selection import train_test_split

from agnews_trainer.ingestion import DataCard, load_ingested
from agnews_trainer.manifest import recording
from agnews_trainer.types import Splits

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")


def to_model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns `text` (model input) and `label` (model index 0-3) from canonical rows (labels 1-4)."""
    text = [model_input(t, d) for t, d in zip(frame["title"].fillna(""), frame["description"].fillna(""), strict=True)]
    labels = [label_id_to_index(int(str(v).strip())) for v in frame["label"]]
    return pd.DataFrame({"text": text, "label": labels}).astype({"text": "string", "label": "int64"})


def carve_validation(
    train: pd.DataFrame, fraction: float, seed: int, max_rows: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation): a stratified, seeded split of `train`."""
    n_val = max(NUM_LABELS, round(len(train) * fraction))
    if max_rows is not None:
        n_val = min(n_val, max_rows)
    if len(train) - n_val < NUM_LABELS:
        raise DataValidationError(f"train has {len(train)} rows: too few to carve a validation split from")
    counts = train["label"].value_counts()
    stratify = train["label"] if counts.min() >= 2 and n_val >= counts.size else None
    rest, val = train_test_split(train, test_size=n_val, random_state=seed, shuffle=True, stratify=stratify)
    return rest.reset_index(drop=True), val.reset_index(drop=True)


def transform_frames(
    frames: dict[str, pd.DataFrame],
    card: DataCard,
    out_dir: Path,
    *,
    val_fraction: float = 0.05,
    seed: int = 42,
    max_val_rows: int | None = 2000,
) -> Splits:
    """Write `out_dir/{train,validation,test}.parquet` and return them as Splits."""
    with recording(out_dir, "transformation") as rec:
        rec.inputs = {"content_hash": card.content_hash}
        rec.params = {"val_fraction": val_fraction, "seed": seed, "max_val_rows": max_val_rows}
        train, validation = carve_validation(to_model_frame(frames["train"]), val_fraction, seed, max_val_rows)
        test = to_model_frame(frames["test"])
        splits = Splits(
            train=train,
            validation=validation,
            test=test,
            test_data_hash=card.split_hashes["test"],
            train_data_hash=card.split_hashes["train"],
        )
        for name in SPLIT_NAMES:
            frame: pd.DataFrame = getattr(splits, name)
            frame.to_parquet(out_dir / f"{name}.parquet", index=False)
            words = frame["text"].map(lambda text: len(str(text).split()))
            rec.summary[name] = {
                "rows": len(frame),
                "per_label": {str(k): int(v) for k, v in frame["label"].value_counts().sort_index().items()},
                "words_mean": round(float(words.mean()), 1) if len(frame) else 0.0,
                "words_p95": int(words.quantile(0.95)) if len(frame) else 0,
            }
        rec.summary["test_data_hash"] = splits.test_data_hash
        rec.summary["train_data_hash"] = splits.train_data_hash
        log.info("splits: train %d, validation %d, test %d", len(train), len(validation), len(test))
    return splits


def transform_dataset(ingested_dir: Path, out_dir: Path, *, val_fraction: float = 0.05, seed: int = 42) -> Splits:
    """Stage 3 on a finished ingestion folder (run it on its own after `ingest`)."""
    frames, card = load_ingested(ingested_dir)
    return transform_frames(frames, card, out_dir, val_fraction=val_fraction, seed=seed)


def load_splits(out_dir: Path, test_data_hash: str, train_data_hash: str) -> Splits:
    """Splits of a finished transformation folder."""
    frames = {name: pd.read_parquet(out_dir / f"{name}.parquet") for name in SPLIT_NAMES}
    return Splits(**frames, test_data_hash=test_data_hash, train_data_hash=train_data_hash)
