"""Training throughput: our loop vs a plain `transformers.Trainer` on the same model, data, batch size and length.

Both runs fine-tune the `minilm` preset for the same number of optimizer steps on the same rows of train.csv
with the same threads; throughput is examples per second between the end of step --warmup and the last step
(model loading, tokenization and evaluation excluded for both). The Trainer gets what a plain run gets:
DataCollatorWithPadding (dynamic padding per random batch) and its default fused AdamW.

    python bench/bench_train_speed.py --data ../shared/data/agnews [--steps 150] [--warmup 10]

Prints a table; the last line is one JSON object.
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


class StepTimer:
    """Timestamps and example counts per optimizer step; rate over steps (warmup, last]."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.times: dict[int, float] = {}
        self.examples: dict[int, int] = {}

    def __call__(self, step: int, examples: int) -> None:
        self.times[step] = time.perf_counter()
        self.examples[step] = examples

    def rate(self) -> tuple[float, int, float]:
        last = max(self.times)
        n = sum(e for s, e in self.examples.items() if s > self.warmup)
        seconds = self.times[last] - self.times[self.warmup]
        return n / seconds, last - self.warmup, seconds


def run_ours(args: argparse.Namespace, splits: Any, work: Path) -> dict[str, Any]:
    from agnews_trainer.training.loop import train_transformer
    from agnews_trainer.training.presets import resolve_model
    from agnews_trainer.types import TrainingConfig

    timer = StepTimer(args.warmup)
    cfg = TrainingConfig(
        preset="minilm",
        batch_size=args.batch_size,
        max_length=args.max_length,
        max_steps=args.warmup + args.steps,
        early_stopping_patience=0,
        max_eval_samples=200,
        resume=False,
        checkpoint_every_min=1e9,
        num_threads=args.threads,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
    )
    result = train_transformer(
        cfg, splits, work / "ours" / "model", resolve_model("minilm"), callbacks=[lambda e: timer(e.step, e.rows)]
    )
    rate, steps, seconds = timer.rate()
    return {
        "loop": "agnews",
        "examples_per_s": rate,
        "steps": steps,
        "seconds": seconds,
        "threads": result.stats["num_threads"],
    }


def run_trainer(args: argparse.Namespace, splits: Any, work: Path) -> dict[str, Any]:
    import torch
    from agnews_core.labels import NUM_LABELS, id2label, label2id
    from agnews_trainer.training.presets import resolve_model
    from agnews_trainer.training.runtime import configure_threads
    from agnews_trainer.types import TrainingConfig
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    threads = configure_threads(TrainingConfig(num_threads=args.threads))
    path = resolve_model("minilm").name_or_path
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=NUM_LABELS, id2label=id2label(), label2id=label2id()
    )
    enc = tokenizer(splits.train["text"].tolist(), truncation=True, max_length=args.max_length)
    dataset = Dataset.from_dict(
        {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "labels": splits.train["label"].tolist(),
        }
    )
    timer = StepTimer(args.warmup)

    class Timing(TrainerCallback):
        def on_step_end(self, targs: Any, state: Any, control: Any, **kwargs: Any) -> None:
            timer(state.global_step, args.batch_size)

    targs = TrainingArguments(
        output_dir=str(work / "trainer"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        learning_rate=1e-4,
        warmup_steps=0.06,
        weight_decay=0.01,
        lr_scheduler_type="linear",
        save_strategy="no",
        eval_strategy="no",
        logging_steps=50,
        report_to=[],
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=args.mixed_precision == "bf16",
        fp16=args.mixed_precision == "fp16",
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[Timing()],
    )
    trainer.train()
    rate, steps, seconds = timer.rate()
    return {
        "loop": "transformers.Trainer",
        "examples_per_s": rate,
        "steps": steps,
        "seconds": seconds,
        "threads": threads,
    }


def padding_ratios(splits: Any, args: argparse.Namespace) -> dict[str, float]:
    """Tokens each loop pushes through the model per real token: the work that padding wastes, machine-free."""
    from agnews_trainer.training.data import bucketed_batches
    from agnews_trainer.training.presets import resolve_model
    from agnews_trainer.training.tokenize import lengths, load_tokenizer, tokenize_texts

    tokenizer = load_tokenizer(resolve_model("minilm").name_or_path)
    lens = np.asarray(lengths(tokenize_texts(tokenizer, splits.train["text"].tolist(), args.max_length)))
    perm = np.random.default_rng(args.seed).permutation(len(lens))
    random_batches = [perm[i : i + args.batch_size] for i in range(0, len(lens), args.batch_size)]
    bucketed = bucketed_batches(lens, args.batch_size, args.seed, 0)

    def ratio(batches: list[np.ndarray]) -> float:
        return float(sum(len(b) * lens[b].max() for b in batches) / lens.sum())

    return {
        "mean_tokens": float(lens.mean()),
        "padded_per_real_token_ours": round(ratio(bucketed), 3),
        "padded_per_real_token_trainer": round(ratio(random_batches), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with train.csv (Kaggle AG News layout)")
    parser.add_argument("--steps", type=int, default=150, help="measured optimizer steps per loop")
    parser.add_argument("--warmup", type=int, default=10, help="steps run before measuring starts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rows", type=int, default=8000, help="training rows both loops draw batches from")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores)")
    parser.add_argument(
        "--mixed-precision", default="no", choices=["no", "bf16", "fp16"], help="the same autocast for both loops"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    splits = common.load_splits(args.data, seed=args.seed)
    splits.train = splits.train.sample(n=min(args.rows, len(splits.train)), random_state=args.seed).reset_index(
        drop=True
    )
    with tempfile.TemporaryDirectory(prefix="agnews-speed-") as tmp:
        ours = run_ours(args, splits, Path(tmp))
        theirs = run_trainer(args, splits, Path(tmp))
    speedup = ours["examples_per_s"] / theirs["examples_per_s"]
    padding = padding_ratios(splits, args)
    rows = [ours, theirs]
    print()
    print(
        f"minilm, batch {args.batch_size}, max_length {args.max_length}, precision {args.mixed_precision}, "
        f"{len(splits.train)} rows of train.csv"
    )
    print(common.table(rows, ["loop", "examples_per_s", "steps", "seconds", "threads"]))
    print(
        f"tokens computed per real token: ours {padding['padded_per_real_token_ours']}, "
        f"Trainer {padding['padded_per_real_token_trainer']} (mean {padding['mean_tokens']:.1f} tokens per example)"
    )
    print(f"speed-up: {speedup:.2f}x (goal >= 1.3x)")
    print(
        json.dumps(
            {
                "benchmark": "train_speed",
                "model": "minilm",
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "ours_examples_per_s": round(ours["examples_per_s"], 2),
                "trainer_examples_per_s": round(theirs["examples_per_s"], 2),
                "speedup": round(speedup, 3),
                "steps": args.steps,
                "threads": ours["threads"],
                "mixed_precision": args.mixed_precision,
                **padding,
            }
        )
    )


if __name__ == "__main__":
    main()
