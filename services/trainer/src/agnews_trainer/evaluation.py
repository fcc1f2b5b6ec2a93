"""Stage 5, evaluation: a trained model and the test split in; metrics, plots and a model card out.

The metrics dict is what the registry manifest carries and the gateway lists (`accuracy`, `macro_f1`,
`per_class` keyed by class name, `confusion_matrix` rows = true class, columns = predicted), so its keys are
a contract (docs/CONTRACTS.md).
"""

from __future__ import annotations

import json
import logging
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
from agnews_trainer.types import ModelKind, Splits

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
MODEL_CARD = "model_card.md"
ARTIFACTS = (METRICS_NAME, CONFUSION_JSON, CONFUSION_PNG, MODEL_CARD)


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


def measure_latency(model_dir: Path, kind: ModelKind, texts: Sequence[str], samples: int) -> dict[str, float]:
    """Single-text prediction latency (model already loaded), in milliseconds."""
    from agnews_trainer.training import predict_proba

    timings = []
    for text in list(texts)[:samples]:
        start = time.perf_counter()
        predict_proba(model_dir, kind, [text], batch_size=1)
        timings.append((time.perf_counter() - start) * 1000)
    if not timings:
        return {}
    timings.sort()
    return {
        "single_p50_ms": round(statistics.median(timings), 3),
        "single_p95_ms": round(timings[min(len(timings) - 1, int(0.95 * len(timings)))], 3),
    }


def render_model_card(metrics: dict[str, Any], context: dict[str, Any]) -> str:
    """Markdown model card: what the model is, what it was trained on, how well it does."""
    lines = [
        f"# agnews model {context.get('version') or '(unpublished)'}",
        "",
        f"- kind: `{context.get('kind')}`, preset: `{context.get('preset')}`",
        f"- base model: `{context.get('base_model')}`",
        f"- git commit: `{context.get('git_commit') or 'unknown'}`",
        f"- data source: `{context.get('data_source')}`",
        f"- data hash: `{context.get('content_hash')}` (test split `{context.get('test_data_hash')}`)",
        "",
        "## Metrics (test split)",
        "",
        f"accuracy **{metrics['accuracy']:.4f}**, macro-F1 **{metrics['macro_f1']:.4f}** on {metrics['n']} articles.",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    lines += ["", "Confusion matrix (rows true, columns predicted): see `confusion_matrix.png`.", ""]
    if latency := metrics.get("latency"):
        lines += ["## Latency", "", "```json", json.dumps(latency, indent=2), "```", ""]
    lines += [
        "## Training",
        "",
        "```json",
        json.dumps({"config": context.get("config"), "stats": context.get("train_stats")}, indent=2, default=str),
        "```",
        "",
        "## Intended use",
        "",
        "Topic classification of English news articles into World, Sports, Business and Sci/Tech. Model input",
        "is `agnews_core.text.model_input(title, description)`; other text distributions are untested.",
        "",
    ]
    return "\n".join(lines)


def evaluate_model(
    model_dir: Path,
    kind: ModelKind,
    splits: Splits,
    out_dir: Path,
    *,
    context: dict[str, Any] | None = None,
    batch_size: int = 64,
    latency_samples: int = 32,
) -> EvalResult:
    """Evaluate on `splits.test`; write metrics.json, confusion matrix JSON + PNG and model_card.md."""
    from agnews_trainer.training import predict_proba

    context = dict(context or {})
    context.setdefault("test_data_hash", splits.test_data_hash)
    with recording(out_dir, "evaluation") as rec:
        rec.inputs = {"model_dir": str(model_dir), "kind": kind, "test_data_hash": splits.test_data_hash}
        rec.params = {"batch_size": batch_size, "latency_samples": latency_samples}
        texts = splits.test["text"].astype(str).tolist()
        start = time.perf_counter()
        proba = predict_proba(model_dir, kind, texts, batch_size=batch_size)
        seconds = time.perf_counter() - start
        metrics = classification_metrics(splits.test["label"].to_numpy(), proba)
        metrics["test_data_hash"] = splits.test_data_hash
        metrics["latency"] = {
            "batch_size": batch_size,
            "batch_ms_per_text": round(seconds * 1000 / max(1, len(texts)), 3),
            "texts_per_s": round(len(texts) / seconds, 1) if seconds > 0 else None,
            **measure_latency(model_dir, kind, texts, latency_samples),
        }
        write_json(out_dir / METRICS_NAME, metrics)
        write_json(out_dir / CONFUSION_JSON, {"labels": list(LABEL_NAMES), "matrix": metrics["confusion_matrix"]})
        plot_confusion_matrix(metrics["confusion_matrix"], out_dir / CONFUSION_PNG)
        (out_dir / MODEL_CARD).write_text(render_model_card(metrics, context))
        rec.summary = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "n": metrics["n"]}
        log.info("test accuracy %.4f, macro-F1 %.4f on %d texts", metrics["accuracy"], metrics["macro_f1"], len(texts))
    return EvalResult(out_dir=out_dir, metrics=metrics)
