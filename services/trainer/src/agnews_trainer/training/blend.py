"""The `blend` model kind: a fine-tuned transformer and the tfidf model, probabilities averaged.

The two are complementary (subword semantics vs word and character n-grams), and tfidf costs about a minute,
so blending is the cheapest accuracy on a CPU. The weight is fitted on validation rows only, scoring each part
as inference serves it (ONNX Runtime int8 for the transformer), and the result is one model folder, one
registry version and one inference backend (agnews_inference.blend_backend):

    model/  config.json (agnews_kind: blend, id2label)  blend.json  transformer/  tfidf/

The parts are trained into model/'s siblings (training/transformer, training/tfidf) and hard-linked in.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from agnews_core.labels import id2label, label2id

from ..types import CancelFn, ProgressFn, Splits, TrainingConfig, TrainResult
from .data import stratified_subsample
from .presets import ResolvedModel

log = logging.getLogger(__name__)

PARTS = ("transformer", "tfidf")
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # tfidf's share; 0.05 steps: finer overfits 2k rows


def fit_weight(labels: np.ndarray, p_transformer: np.ndarray, p_tfidf: np.ndarray) -> tuple[float, dict[str, Any]]:
    """tfidf's weight maximising validation accuracy (ties: lower log loss, then nearer 0); and the search."""
    best: tuple[float, float, float] | None = None
    for w in WEIGHT_GRID:
        blended = (1 - w) * p_transformer + w * p_tfidf
        accuracy = float((blended.argmax(1) == labels).mean())
        log_loss = float(-np.log(np.clip(blended[np.arange(len(labels)), labels], 1e-12, None)).mean())
        key = (-accuracy, log_loss, float(w))
        if best is None or key < best:
            best = key
    assert best is not None
    weight = best[2]
    report = {
        "tfidf_weight": weight,
        "validation_accuracy": -best[0],
        "transformer_validation_accuracy": float((p_transformer.argmax(1) == labels).mean()),
        "tfidf_validation_accuracy": float((p_tfidf.argmax(1) == labels).mean()),
        "validation_rows": len(labels),
    }
    return weight, report


def _link_tree(src: Path, dest: Path) -> None:
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def write_blend_folder(
    out_dir: Path, transformer_dir: Path, tfidf_dir: Path, tfidf_weight: float, max_length: int
) -> Path:
    """Assemble the blend folder from two finished model folders (hard links, so no weights are copied)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    _link_tree(transformer_dir, out_dir / "transformer")
    _link_tree(tfidf_dir, out_dir / "tfidf")
    parts = [
        {"folder": "transformer", "kind": "transformers", "weight": round(1.0 - tfidf_weight, 6)},
        {"folder": "tfidf", "kind": "tfidf", "weight": round(tfidf_weight, 6)},
    ]
    (out_dir / "blend.json").write_text(json.dumps({"parts": parts}, indent=2))
    (out_dir / "config.json").write_text(
        json.dumps(
            {
                "agnews_kind": "blend",
                "model_type": "blend",
                "id2label": {str(k): v for k, v in id2label().items()},
                "label2id": label2id(),
                "num_labels": len(id2label()),
                "agnews_max_length": max_length,
                "parts": parts,
            },
            indent=2,
        )
    )
    return out_dir


def train_blend(
    config: TrainingConfig,
    splits: Splits,
    out_dir: Path,
    resolved: ResolvedModel,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> TrainResult:
    """tfidf, then the transformer (checkpoints under out_dir.parent as usual), then the validation-fitted blend."""
    from ..served import load_served
    from .loop import train_transformer
    from .tfidf import train_tfidf

    # Parts train beside the published folder, so the transformer's checkpoints land in out_dir.parent /
    # "checkpoints" exactly as for a plain transformer run (resume and durable copies find them there).
    parts_dir = out_dir.parent

    def span(start: float, end: float) -> ProgressFn | None:
        if progress is None:
            return None
        report = progress
        return lambda fraction, message: report(start + (end - start) * fraction, message)

    tfidf = train_tfidf(config, splits, parts_dir / "tfidf", span(0.0, 0.04), cancel)
    transformer = train_transformer(
        config, splits, parts_dir / "transformer", resolved, span(0.04, 0.96), cancel, on_checkpoint=on_checkpoint
    )
    stats: dict[str, Any] = {**transformer.stats, "tfidf": tfidf.stats}
    if transformer.stats.get("stopped_reason") == "cancelled" or tfidf.stats.get("stopped_reason") == "cancelled":
        return TrainResult(kind="blend", model_dir=out_dir, base_model=resolved.base_model, stats=stats)

    if progress:
        progress(0.97, "blend: fitting the tfidf weight on validation, as served")
    val = stratified_subsample(splits.validation, config.max_eval_samples, config.seed)
    texts, labels = val["text"].astype(str).tolist(), val["label"].to_numpy()
    cache = out_dir.parent / "blend-compiled"
    p_tr = load_served(
        transformer.model_dir, "transformers", max_length=config.max_length, cache_dir=cache
    ).predict_proba(texts)
    p_tf = load_served(tfidf.model_dir, "tfidf", max_length=config.max_length, cache_dir=cache).predict_proba(texts)
    shutil.rmtree(cache, ignore_errors=True)
    weight, report = fit_weight(labels, p_tr, p_tf)
    write_blend_folder(out_dir, transformer.model_dir, tfidf.model_dir, weight, config.max_length)
    log.info(
        "blend: tfidf weight %.2f, validation accuracy %.4f (transformer %.4f, tfidf %.4f)",
        weight,
        report["validation_accuracy"],
        report["transformer_validation_accuracy"],
        report["tfidf_validation_accuracy"],
    )
    stats["blend"] = report
    stats["seconds"] = float(transformer.stats.get("seconds", 0.0)) + float(tfidf.stats.get("seconds", 0.0))
    if progress:
        progress(1.0, f"blend done: tfidf weight {weight:.2f}, validation accuracy {report['validation_accuracy']:.4f}")
    return TrainResult(kind="blend", model_dir=out_dir, base_model=resolved.base_model, stats=stats)
