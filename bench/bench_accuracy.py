"""Accuracy per CPU training time: `minilm` fine-tuned under a time budget vs the `tfidf` baseline, same split.

Trains tfidf on train.csv (minus a 5% validation slice) and evaluates it on test.csv; then fine-tunes minilm
under a time budget (--max-minutes, default the largest --budgets mark) and evaluates on test.csv:
- at each budget mark, a snapshot of the current weights (its evaluation time is excluded from the training
  clock), which records the accuracy-vs-training-time curve in one run; the learning rate anneals towards the
  end of the whole budget, so points before the last are lower bounds for a run given only that budget;
- at the end, the model train_model saves (best validation weights).

    python bench/bench_accuracy.py --data ../shared/data/agnews --budgets 15,30,60,120

Prints a table; the last line is one JSON object. Goal: minilm beats tfidf by >= 1.5 accuracy points within
2 hours of CPU training.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np

GOAL_POINTS = 1.5


def scores(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = proba.argmax(axis=1)
    return {"accuracy": float(accuracy_score(labels, pred)), "macro_f1": float(f1_score(labels, pred, average="macro"))}


def run_tfidf(splits: Any, work: Path, seed: int) -> dict[str, Any]:
    from agnews_trainer.training import predict_proba, train_model
    from agnews_trainer.types import TrainingConfig

    t0 = time.perf_counter()
    result = train_model(TrainingConfig(preset="tfidf", seed=seed), splits, work / "tfidf" / "model")
    train_s = time.perf_counter() - t0
    proba = predict_proba(result.model_dir, "tfidf", splits.test["text"].tolist())
    return {
        "model": "tfidf",
        "budget_min": None,
        "train_min": train_s / 60,
        "steps": None,
        "epochs": None,
        **scores(splits.test["label"].to_numpy(), proba),
        "wall_min": (time.perf_counter() - t0) / 60,
    }


def run_transformer(args: argparse.Namespace, splits: Any, work: Path, marks: list[float]) -> list[dict[str, Any]]:
    import torch
    from agnews_trainer.training import predict_proba
    from agnews_trainer.training.loop import BenchHooks, train_transformer
    from agnews_trainer.training.predict import collator_for, predict_logits, softmax
    from agnews_trainer.training.presets import resolve_model
    from agnews_trainer.training.tokenize import load_tokenizer, tokenize_texts
    from agnews_trainer.types import TrainingConfig

    resolved = resolve_model(args.preset)
    labels = splits.test["label"].to_numpy()
    tokenizer = load_tokenizer(resolved.name_or_path)
    test_enc = tokenize_texts(tokenizer, splits.test["text"].tolist(), args.max_length)
    rows: list[dict[str, Any]] = []
    spe = len(splits.train) / (args.batch_size or resolved.preset.batch_size)  # type: ignore[union-attr]

    def on_mark(model: Any, mark_min: float, info: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        logits, order = predict_logits(model, test_enc, collator_for(tokenizer), 256, torch.device("cpu"))
        proba = np.empty_like(logits)
        proba[order] = softmax(logits)
        rows.append(
            {
                "model": f"{args.preset} snapshot",
                "budget_min": mark_min,
                "train_min": info["train_seconds"] / 60,
                "steps": info["step"],
                "epochs": info["step"] / spe,
                **scores(labels, proba),
                "eval_s": time.perf_counter() - t0,
            }
        )
        print(json.dumps({"snapshot": rows[-1]}), flush=True)

    cfg = TrainingConfig(
        preset=args.preset,
        epochs=args.epochs,
        time_budget_min=args.max_minutes,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        max_train_samples=args.max_train_samples,
        evals_per_epoch=args.evals_per_epoch,
        early_stopping_patience=args.patience,
        seed=args.seed,
        resume=False,
        num_threads=args.threads,
        mixed_precision=args.mixed_precision,
    )
    t0 = time.perf_counter()
    result = train_transformer(
        cfg,
        splits,
        work / args.preset / "model",
        resolved,
        hooks=BenchHooks(marks_min=[m for m in marks if m < args.max_minutes], on_mark=on_mark),
    )
    wall = time.perf_counter() - t0
    proba = predict_proba(result.model_dir, "transformers", splits.test["text"].tolist(), batch_size=256)
    st = result.stats
    rows.append(
        {
            "model": f"{args.preset} final",
            "budget_min": args.max_minutes,
            "train_min": st["train_seconds"] / 60,
            "steps": st["steps"],
            "epochs": st["epochs_done"],
            **scores(labels, proba),
            "wall_min": wall / 60,
            "stopped_reason": st["stopped_reason"],
            "best_val_accuracy": st["best_val_accuracy"],
            "examples_per_s": st["examples_per_s"],
            "threads": st["num_threads"],
            "precision": st["mixed_precision"],
            "lr": st["learning_rate"],
            "batch_size": st["batch_size"],
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with train.csv and test.csv")
    parser.add_argument("--budgets", default="15,30,60,120", help="training-time marks (minutes) to evaluate at")
    parser.add_argument("--max-minutes", type=float, default=None, help="training budget (default: largest mark)")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--epochs", type=float, default=10.0, help="upper bound; the time budget ends the run first")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--evals-per-epoch", type=int, default=2)
    parser.add_argument("--patience", type=int, default=3, help="early stopping, in validation passes (0: off)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores)")
    parser.add_argument(
        "--mixed-precision",
        default="auto",
        choices=["auto", "no", "bf16", "fp16"],
        help="auto: bf16 on GPUs and on CPUs with native bf16 (AVX512_BF16/AMX), else fp32",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-tfidf", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    marks = sorted(float(b) for b in args.budgets.split(",") if b.strip())
    args.max_minutes = args.max_minutes or marks[-1]

    splits = common.load_splits(args.data, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="agnews-accuracy-") as tmp:
        tfidf = None if args.skip_tfidf else run_tfidf(splits, Path(tmp), args.seed)
        curve = run_transformer(args, splits, Path(tmp), marks)
    final = curve[-1]
    print()
    print(
        f"train {len(splits.train)} rows, validation {len(splits.validation)}, test {len(splits.test)}; "
        f"{final['threads']} threads, precision {final['precision']}; "
        f"{args.preset} lr {final['lr']:.1e} batch {final['batch_size']}"
    )
    rows = ([tfidf] if tfidf else []) + curve
    print(common.table(rows, ["model", "budget_min", "train_min", "steps", "epochs", "accuracy", "macro_f1"]))
    margin = (final["accuracy"] - tfidf["accuracy"]) * 100 if tfidf else None
    if margin is not None:
        verdict = "met" if margin >= GOAL_POINTS and args.max_minutes <= 120 else "not met"
        print(
            f"{args.preset} - tfidf: {margin:+.2f} accuracy points after {final['train_min']:.1f} min ({verdict}; "
            f"goal >= +{GOAL_POINTS} within 120 min)"
        )
    print(
        json.dumps(
            {
                "benchmark": "accuracy",
                "preset": args.preset,
                "max_minutes": args.max_minutes,
                "tfidf": tfidf,
                "curve": curve[:-1],
                "final": final,
                "margin_points": margin,
                "goal_met": margin is not None and margin >= GOAL_POINTS and args.max_minutes <= 120,
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()
