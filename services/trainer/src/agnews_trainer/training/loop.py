"""Our fine-tuning loop for `AutoModelForSequenceClassification` (what bench_train_speed measures).

Per CPU-second it does little besides the model's own math: length-bucketed batches padded per batch, fused
AdamW, a budget-aware linear schedule, validation a few times per epoch on length-sorted larger batches in
inference mode, early stopping that restores the best weights, atomic checkpoints for resume and, as knobs, a
moving average of the weights (averaging.py) and label smoothing.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from agnews_core.errors import ConfigError
from agnews_core.labels import NUM_LABELS, id2label, label2id
from tqdm.auto import tqdm

from ..types import CancelFn, ProgressFn, Splits, TrainingConfig, TrainResult
from .averaging import WeightAverage
from .checkpoint import LoopState, find_checkpoint, fingerprint, save_checkpoint
from .data import bucketed_batches, steps_per_epoch, stratified_subsample
from .optim import make_optimizer, set_learning_rate
from .predict import collator_for, predict_logits
from .presets import ResolvedModel, hyperparameters, regularisation, time_budget_min
from .runtime import configure_threads, make_accelerator, release_accelerator
from .schedule import Clock, Schedule
from .tokenize import lengths, load_tokenizer, tokenize_texts

log = logging.getLogger(__name__)

EVAL_GUESS_AFTER_STEPS = 10
MEGA_BATCHES = 50  # batches per length-sorting window: large enough for tight buckets, small enough to stay random

CheckpointFn = Callable[[Path], None]
"""Called with the checkpoint folder after each local save (e.g. to copy it to durable storage)."""


@dataclass(frozen=True)
class StepEvent:
    """What a step callback sees after each optimizer step (main process only; its time is not training time)."""

    step: int
    examples: int  # seen so far, all processes
    rows: int  # in this step, this process
    train_seconds: float
    model: Any  # the unwrapped model, in train mode: a callback that evaluates must restore that


StepCallback = Callable[[StepEvent], None]


def load_model(resolved: ResolvedModel, tokenizer: Any) -> Any:
    """A 4-class sequence classifier on top of the resolved encoder, label names in its config."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized classifier weights" is the point of fine-tuning
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.name_or_path,
            num_labels=NUM_LABELS,
            id2label=id2label(),
            label2id=label2id(),
            ignore_mismatched_sizes=True,
        )
    finally:
        hf_logging.set_verbosity(previous)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _cpu_copy(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class _Run:
    """One training run; split into methods so each piece stays readable."""

    def __init__(
        self,
        config: TrainingConfig,
        splits: Splits,
        out_dir: Path,
        resolved: ResolvedModel,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        callbacks: Sequence[StepCallback],
        on_checkpoint: CheckpointFn | None = None,
    ) -> None:
        self.cfg, self.splits, self.out_dir, self.resolved = config, splits, Path(out_dir), resolved
        self.progress_fn, self.cancel_fn, self.callbacks = progress, cancel, tuple(callbacks)
        self.on_checkpoint = on_checkpoint
        self.work_dir = self.out_dir.parent / "checkpoints"
        self.acc = make_accelerator(config)
        self.main = bool(self.acc.is_main_process)
        self.world, self.rank = int(self.acc.num_processes), int(self.acc.process_index)
        self.threads = configure_threads(config, self.world if self.acc.device.type == "cpu" else 1)
        self.best: dict[str, torch.Tensor] | None = None
        self.last_eval_s = 0.0
        self.last_progress = 0.0

    # ---- setup -------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        from accelerate.utils import set_seed

        cfg = self.cfg
        set_seed(cfg.seed)
        self.lr, self.batch_size = hyperparameters(cfg, self.resolved)
        self.ema_decay, self.label_smoothing = regularisation(cfg, self.resolved)
        self._report(0.0, f"loading {self.resolved.base_model}")
        self.tokenizer = load_tokenizer(self.resolved.name_or_path)
        train = stratified_subsample(self.splits.train, cfg.max_train_samples, cfg.seed)
        val = stratified_subsample(self.splits.validation, cfg.max_eval_samples, cfg.seed)
        if len(train) == 0 or len(val) == 0:
            raise ConfigError("training needs at least one train and one validation row")
        self.train_enc = tokenize_texts(self.tokenizer, train["text"].tolist(), cfg.max_length)
        self.val_enc = tokenize_texts(self.tokenizer, val["text"].tolist(), cfg.max_length)
        self.train_labels = train["label"].to_numpy(np.int64)
        self.val_labels = val["label"].to_numpy(np.int64)
        self.train_lens = np.asarray(lengths(self.train_enc))
        self.collator = collator_for(self.tokenizer)

        self.spe = steps_per_epoch(len(train), self.batch_size, MEGA_BATCHES, self.world)
        if self.spe == 0:
            raise ConfigError(f"{len(train)} training rows are too few for {self.world} processes")
        self.total_steps = max(1, math.ceil(cfg.epochs * self.spe))
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.eval_every = max(1, self.spe // max(1, cfg.evals_per_epoch))
        budget_min = time_budget_min(cfg, self.resolved)
        self.budget_s = budget_min * 60 if budget_min else None
        self.schedule = Schedule(self.lr, self.total_steps, cfg.warmup_ratio, self.budget_s)

        model = load_model(self.resolved, self.tokenizer)
        optimizer = make_optimizer(model, self.lr, cfg.weight_decay, cfg.layer_lr_decay)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.average = WeightAverage(self.unwrapped, self.ema_decay) if self.ema_decay else None
        self.state = LoopState(
            fingerprint=fingerprint(
                model=self.resolved.base_model,
                source=self.resolved.name_or_path,
                data=self.splits.train_data_hash,
                n_train=len(train),
                lr=self.lr,
                batch=self.batch_size,
                max_length=cfg.max_length,
                seed=cfg.seed,
                epochs=cfg.epochs,
                max_steps=cfg.max_steps,
                layer_lr_decay=cfg.layer_lr_decay,
                ema_decay=self.ema_decay,
                label_smoothing=self.label_smoothing,
                world=self.world,
                precision=str(self.acc.mixed_precision),
            )
        )
        self.resumed_from: int | None = None
        if cfg.resume:
            self._resume()

    def _resume(self) -> None:
        ck = find_checkpoint(self.work_dir, self.state.fingerprint)
        if ck is None:
            return
        self.unwrapped.load_state_dict(ck.model_state())
        self.optimizer.load_state_dict(ck.optimizer_state())
        ck.restore_rng()
        self.state = ck.state
        self.best = ck.best_state() if self.main else None
        average = ck.average_state()
        if self.average is not None and average is not None:
            self.average.load_state_dict(average)
        self.resumed_from = self.state.step
        log.info("resuming from %s at step %d", ck.folder, self.state.step)

    @property
    def unwrapped(self) -> Any:
        return self.acc.unwrap_model(self.model)

    # ---- pieces of the loop ------------------------------------------------------------------------------
    def _report(self, fraction: float, message: str, force: bool = True) -> None:
        now = time.monotonic()
        if self.progress_fn is None or not self.main or (not force and now - self.last_progress < 2.0):
            return
        self.last_progress = now
        self.progress_fn(min(1.0, max(0.0, fraction)), message)

    def _any_rank(self, flag: bool) -> bool:
        """Stop decisions must be unanimous under DDP, or the others hang in the next all-reduce."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.acc.device)
        return bool(self.acc.reduce(t, reduction="sum").item() > 0)

    def _stop_reason(self) -> str | None:
        s, cfg = self.state, self.cfg
        if cfg.early_stopping_patience and s.evals_without_improvement >= cfg.early_stopping_patience:
            return "early_stopping"
        if s.step >= self.total_steps:
            return "max_steps" if cfg.max_steps and self.total_steps == cfg.max_steps else "completed"
        # Leave room for the final validation pass, so the whole run fits in its budget.
        if self._any_rank(self.budget_s is not None and self.clock.seconds() + self._eval_cost() >= self.budget_s):
            return "time_budget"
        if self._any_rank(self.cancel_fn is not None and self.main and bool(self.cancel_fn())):
            return "cancelled"
        return None

    def _eval_cost(self) -> float:
        """Seconds a validation pass takes: measured once there was one, else guessed from training speed."""
        if self.last_eval_s or self.state.step < EVAL_GUESS_AFTER_STEPS:
            # The first steps carry one-off costs (allocations, a cold cache, a busy machine's first slice): a
            # guess from them once stopped a 5-minute run after one step, so make none until the pace settles.
            return self.last_eval_s
        # Inference runs about 3x faster per example than a training step (no backward, no optimizer).
        return len(self.val_labels) / (3.0 * self.state.examples / self.state.step_seconds)

    def _evaluated_weights(self) -> AbstractContextManager[None]:
        """The weights validation judges and keeps: the moving average when the run has one."""
        return self.average.swapped_in() if self.average is not None else nullcontext()

    def _evaluate(self) -> float:
        t0 = time.perf_counter()
        s = self.state
        with self._evaluated_weights():
            accuracy, loss = self._validation_pass()
            improved = accuracy > s.best_accuracy
            if improved and self.main:
                self.best = _cpu_copy(self.unwrapped)
        s.history.append({"step": s.step, "accuracy": accuracy, "loss": loss, "train_seconds": self.clock.seconds()})
        if improved:
            s.best_accuracy, s.best_step, s.evals_without_improvement = accuracy, s.step, 0
        else:
            s.evals_without_improvement += 1
        self.last_eval_s = time.perf_counter() - t0
        log.info("step %d: validation accuracy %.4f loss %.4f (%.1fs)", s.step, accuracy, loss, self.last_eval_s)
        self._report(self._fraction(), f"step {s.step}: validation accuracy {accuracy:.4f}")
        return accuracy

    def _validation_pass(self) -> tuple[float, float]:
        """(accuracy, mean log loss) of the model's current weights on the validation rows, all processes."""
        logits, rows = predict_logits(
            self.unwrapped,
            self.val_enc,
            self.collator,
            self.cfg.eval_batch_size,
            self.acc.device,
            self.acc.autocast(),
            self.rank,
            self.world,
        )
        labels = self.val_labels[rows]
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        sums = torch.tensor(
            [float((logits.argmax(1) == labels).sum()), float(-logp[np.arange(len(rows)), labels].sum()), len(rows)],
            dtype=torch.float64,
            device=self.acc.device,
        )
        if self.world > 1:
            sums = self.acc.reduce(sums, reduction="sum")
        correct, loss_sum, n = (float(x) for x in sums.cpu())
        return correct / n, loss_sum / n

    def _checkpoint(self) -> None:
        self.state.train_seconds = self.clock.seconds()
        if self.main:
            folder = save_checkpoint(
                self.work_dir,
                self.state,
                self.unwrapped.state_dict(),
                self.optimizer.state_dict(),
                self.best,
                self.average.state_dict() if self.average is not None else None,
            )
            if self.on_checkpoint is not None:
                self.on_checkpoint(folder)
        self.acc.wait_for_everyone()
        self.last_checkpoint_s = self.clock.seconds()

    def _fraction(self) -> float:
        return self.schedule.progress(self.state.step, self.clock.seconds())

    def _callbacks(self, rows: int) -> None:
        if not self.callbacks or not self.main:
            return
        self.clock.pause()
        s = self.state
        event = StepEvent(s.step, s.examples, rows, self.clock.seconds(), self.unwrapped)
        for callback in self.callbacks:
            callback(event)
        self.clock.resume()

    # ---- the loop ----------------------------------------------------------------------------------------
    def train(self) -> str:
        cfg, s = self.cfg, self.state
        self.clock = Clock(s.train_seconds)
        self.last_checkpoint_s = s.train_seconds
        epoch, batches = -1, []
        loss_sum = torch.zeros((), device=self.acc.device)
        loss_n, shown_loss = 0, float("nan")
        bar = tqdm(
            total=self.total_steps,
            initial=s.step,
            desc=f"train {self.resolved.preset.name if self.resolved.preset else 'model'}",
            unit="step",
            file=sys.stderr,
            disable=not self.main,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            dynamic_ncols=True,
        )
        self.model.train()
        reason: str | None = None
        try:
            while (reason := self._stop_reason()) is None:
                e, index = divmod(s.step, self.spe)
                if e != epoch:
                    epoch = e
                    batches = bucketed_batches(
                        self.train_lens, self.batch_size, cfg.seed, epoch, MEGA_BATCHES, self.rank, self.world
                    )
                rows = batches[index]
                t0 = time.perf_counter()
                batch = {
                    k: v.to(self.acc.device, non_blocking=True)
                    for k, v in self.collator(self.train_enc, rows, self.train_labels).items()
                }
                lr = self.schedule.lr(s.step, self.clock.seconds())
                set_learning_rate(self.optimizer, lr)
                labels = batch.pop("labels")
                with self.acc.autocast():
                    logits = self.model(**batch).logits
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
                self.acc.backward(loss)
                if cfg.max_grad_norm:
                    self.acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.average is not None:
                    self.average.update()
                loss_sum += loss.detach()
                loss_n += 1
                s.step += 1
                s.examples += len(rows) * self.world
                s.tokens += int(self.train_lens[rows].sum()) * self.world
                s.step_seconds += time.perf_counter() - t0
                bar.update(1)
                if loss_n >= 20 or s.step == 1:
                    shown_loss = float(loss_sum.item()) / loss_n  # one device sync per 20 steps
                    loss_sum.zero_()
                    loss_n = 0
                    rate = s.examples / max(s.step_seconds, 1e-9)
                    bar.set_postfix(loss=f"{shown_loss:.4f}", ex_s=f"{rate:.1f}", lr=f"{lr:.2e}", refresh=False)
                    self._report(self._fraction(), f"step {s.step}/{self.total_steps} loss {shown_loss:.4f}", False)
                if s.step % self.eval_every == 0 and s.step < self.total_steps:
                    self._evaluate()
                    self._checkpoint()
                elif self.clock.seconds() - self.last_checkpoint_s >= cfg.checkpoint_every_min * 60:
                    self._checkpoint()
                self._callbacks(len(rows))
        finally:
            bar.close()
        return reason

    def finish(self, reason: str) -> None:
        s = self.state
        if reason != "cancelled" and (not s.history or s.history[-1]["step"] != s.step):
            self._evaluate()
        self._checkpoint()
        if self.main:
            # Current weights (their average, when kept) were either just evaluated (keep them unless an earlier
            # pass was better) or, when cancelled, never evaluated (prefer the best evaluated ones).
            evaluated = bool(s.history) and s.history[-1]["step"] == s.step
            if self.best is not None and (not evaluated or s.best_accuracy > s.history[-1]["accuracy"]):
                self.unwrapped.load_state_dict(self.best)
            elif self.average is not None:
                self.average.copy_to_model()
            self._save_model()
        self.acc.wait_for_everyone()

    def _save_model(self) -> None:
        model = self.unwrapped
        model.config.agnews_kind = "transformers"
        model.config.agnews_base_model = self.resolved.base_model
        model.config.agnews_preset = self.resolved.preset.name if self.resolved.preset else None
        model.config.agnews_max_length = self.cfg.max_length
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        self.out_dir.mkdir(parents=True)
        model.save_pretrained(self.out_dir)
        self.tokenizer.model_max_length = self.cfg.max_length  # serving truncates exactly like training
        self.tokenizer.save_pretrained(self.out_dir)

    def stats(self, reason: str, wall_s: float) -> dict[str, Any]:
        s = self.state
        return {
            "stopped_reason": reason,
            "seconds": wall_s,
            "train_seconds": self.clock.seconds(),
            "steps": s.step,
            "total_steps": self.total_steps,
            "epochs_done": s.step / self.spe,
            "examples_seen": s.examples,
            "examples_per_s": s.examples / s.step_seconds if s.step_seconds else 0.0,
            "tokens_per_s": s.tokens / s.step_seconds if s.step_seconds else 0.0,
            "best_val_accuracy": s.best_accuracy if s.best_accuracy >= 0 else None,
            "best_step": s.best_step,
            "eval_history": s.history,
            "resumed_from_step": self.resumed_from,
            "learning_rate": self.lr,
            "ema_decay": self.ema_decay,
            "label_smoothing": self.label_smoothing,
            "batch_size": self.batch_size,
            "max_length": self.cfg.max_length,
            "train_rows": len(self.train_labels),
            "validation_rows": len(self.val_labels),
            "device": str(self.acc.device),
            "mixed_precision": str(self.acc.mixed_precision),
            "num_threads": self.threads,
            "num_processes": self.world,
            "model_source": self.resolved.source,
        }


def train_transformer(
    config: TrainingConfig,
    splits: Splits,
    out_dir: Path,
    resolved: ResolvedModel,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    callbacks: Sequence[StepCallback] = (),
    on_checkpoint: CheckpointFn | None = None,
) -> TrainResult:
    """Fine-tune the resolved encoder on splits.train, early-stopping on splits.validation; save to out_dir.

    `callbacks` run after every optimizer step with the clock paused (benchmarks attach their probes here).
    """
    wall0 = time.perf_counter()
    run = _Run(config, splits, out_dir, resolved, progress, cancel, callbacks, on_checkpoint)
    try:
        run.prepare()
        reason = run.train()
        run.finish(reason)
        stats = run.stats(reason, time.perf_counter() - wall0)
    finally:
        release_accelerator()
    run._report(1.0, f"training done ({reason}), best validation accuracy {run.state.best_accuracy:.4f}")
    return TrainResult(kind="transformers", model_dir=Path(out_dir), base_model=resolved.base_model, stats=stats)
