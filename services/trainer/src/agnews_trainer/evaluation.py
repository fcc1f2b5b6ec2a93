"""Stage 5, evaluation: a trained model and the test split in; metrics, plots and a model card out.

The metrics dict is what the registry manifest carries and the gateway lists (`accuracy`, `macro_f1`,
`per_class` keyed by class name, `confusion_matrix` rows = true class, columns = predicted), so its keys are
a contract (docs/CONTRACTS.md).
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from agnews_core.labels import LABEL_NAMES, NUM_LABELS
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from agnews_trainer.manifest import recording, write_json
from agnews_trainer.model_card import render_model_card
from agnews_trainer.served import FP32_BACKEND, ServedModel, load_served
from agnews_trainer.types import ModelKind, Splits

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
MODEL_CARD = "model_card.md"
PREDICTIONS_NAME = "test_predictions.json"  # per-row labels and predictions: paired tests against this version
ARTIFACTS = (METRICS_NAME, PREDICTIONS_NAME, CONFUSION_JSON, CONFUSION_PNG, MODEL_CARD)


@dataclass
class EvalResult:
    out_dir: Path
    metrics: dict[str, Any]

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])

    @property
    def macro_f1(self) -> float:
        return float(self.metrics["macro_f1"])


def classification_metrics(y_true: Sequence[int] | np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """accuracy, macro_f1, per_class (by class name) and confusion_matrix from true indices and probabilities."""
    y = np.asarray(y_true, dtype=np.int64)
    pred = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
    classes = list(range(NUM_LABELS))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, average=None, zero_division=0
    )
    per_class = {
        name: {
            "precision": round(float(precision[i]), 6),
            "recall": round(float(recall[i]), 6),
            "f1": round(float(f1[i]), 6),
            "support": int(support[i]),
        }
        for i, name in enumerate(LABEL_NAMES)
    }
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 6) if len(y) else 0.0,
        "macro_f1": round(float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)), 6),
        "n": len(y),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).astype(int).tolist(),
        "labels": list(LABEL_NAMES),
    }


def plot_confusion_matrix(matrix: list[list[int]], path: Path, title: str = "Confusion matrix") -> Path:
    """A PNG heat map with counts, rows = true class, columns = predicted."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in workers
    import matplotlib.pyplot as plt

    data = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=100)
    try:
        image = ax.imshow(data, cmap="Blues")
        ax.set_xticks(range(NUM_LABELS), LABEL_NAMES, rotation=30, ha="right")
        ax.set_yticks(range(NUM_LABELS), LABEL_NAMES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        threshold = data.max() / 2 if data.size and data.max() else 0
        for (i, j), value in np.ndenumerate(data):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def measure_latency(model: ServedModel, texts: Sequence[str], samples: int) -> dict[str, float]:
    """Single-text prediction latency of the served model (already loaded), in milliseconds."""
    timings = []
    for text in list(texts)[:samples]:
        start = time.perf_counter()
        model.predict_proba([text])
        timings.append((time.perf_counter() - start) * 1000)
    if not timings:
        return {}
    timings.sort()
    return {
        "single_p50_ms": round(statistics.median(timings), 3),
        "single_p95_ms": round(timings[min(len(timings) - 1, int(0.95 * len(timings)))], 3),
    }


def score_as_served(
    model_dir: Path, kind: ModelKind, texts: Sequence[str], labels: np.ndarray, *, max_length: int, cache_dir: Path
) -> tuple[ServedModel, dict[str, Any], np.ndarray, np.ndarray | None]:
    """(served model, metrics, served predictions, fp32 predictions or None for tfidf).

    Top-level metrics are the served figures (what the registry compares and users get); `served` and `fp32`
    record each figure with its backend, and `fp32_agreement` the share of rows where both predict the same.
    """
    start = time.perf_counter()
    served = load_served(model_dir, kind, max_length=max_length, cache_dir=cache_dir)
    proba = served.predict_proba(texts)
    seconds = time.perf_counter() - start
    pred = proba.argmax(axis=1)
    metrics = classification_metrics(labels, proba)
    metrics["served"] = {
        "backend": served.backend,
        "max_length": max_length,
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "seconds": round(seconds, 2),
    }
    fp32_pred: np.ndarray | None = None
    if kind == "tfidf":  # scikit-learn serves in float64 already: one figure
        metrics["fp32"] = {"backend": served.backend, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    else:
        reference = load_served(model_dir, kind, max_length=max_length, cache_dir=cache_dir, backend=FP32_BACKEND)
        fp32_proba = reference.predict_proba(texts)
        fp32 = classification_metrics(labels, fp32_proba)
        fp32_pred = fp32_proba.argmax(axis=1)
        metrics["fp32"] = {"backend": reference.backend, "accuracy": fp32["accuracy"], "macro_f1": fp32["macro_f1"]}
        metrics["fp32_agreement"] = round(float((fp32_pred == pred).mean()), 6) if len(pred) else None
    return served, metrics, pred, fp32_pred


def evaluate_model(
    model_dir: Path,
    kind: ModelKind,
    splits: Splits,
    out_dir: Path,
    *,
    context: dict[str, Any] | None = None,
    max_length: int = 128,
    latency_samples: int = 32,
) -> EvalResult:
    """Score the model as served on `splits.test`; write metrics, predictions, confusion matrix and model card."""
    context = dict(context or {})
    context.setdefault("test_data_hash", splits.test_data_hash)
    with recording(out_dir, "evaluation") as rec:
        rec.inputs = {"model_dir": str(model_dir), "kind": kind, "test_data_hash": splits.test_data_hash}
        rec.params = {"max_length": max_length, "latency_samples": latency_samples}
        texts = splits.test["text"].astype(str).tolist()
        labels = splits.test["label"].to_numpy()
        served, metrics, pred, fp32_pred = score_as_served(
            model_dir, kind, texts, labels, max_length=max_length, cache_dir=out_dir / "compiled"
        )
        metrics["test_data_hash"] = splits.test_data_hash
        metrics["latency"] = {
            "backend": served.backend,
            "batch_ms_per_text": round(metrics["served"]["seconds"] * 1000 / max(1, len(texts)), 3),
            **measure_latency(served, texts, latency_samples),
        }
        write_json(out_dir / METRICS_NAME, metrics)
        write_json(
            out_dir / PREDICTIONS_NAME,
            {
                "test_data_hash": splits.test_data_hash,
                "labels": labels.tolist(),
                "served": pred.tolist(),
                "fp32": fp32_pred.tolist() if fp32_pred is not None else None,
            },
        )
        write_json(out_dir / CONFUSION_JSON, {"labels": list(LABEL_NAMES), "matrix": metrics["confusion_matrix"]})
        plot_confusion_matrix(metrics["confusion_matrix"], out_dir / CONFUSION_PNG)
        (out_dir / MODEL_CARD).write_text(render_model_card(metrics, context))
        shutil.rmtree(out_dir / "compiled", ignore_errors=True)  # inference compiles its own copy, per version
        rec.summary = {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "fp32_accuracy": metrics["fp32"]["accuracy"],
            "backend": served.backend,
            "n": metrics["n"],
        }
        log.info(
            "test accuracy as served (%s) %.4f, fp32 %.4f, macro-F1 %.4f on %d texts",
            served.backend,
            metrics["accuracy"],
            metrics["fp32"]["accuracy"],
            metrics["macro_f1"],
            len(texts),
        )
    return EvalResult(out_dir=out_dir, metrics=metrics)


def read_predictions(raw: bytes) -> dict[str, Any]:
    """A version's test_predictions.json (labels and served predictions per test row)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("served"), list):
        raise ValueError("not a test_predictions.json")
    return data
