"""The pipeline: six stages composed, each leaving its folder and manifest in the run folder.

    run_dir/ingestion/  validation/  transformation/  training/  evaluation/  publish/  run.json

`run_pipeline` is what `agnews-train run` and the Celery training task call. Progress is reported as a
fraction of the whole run; cancellation is honoured between stages and inside training (before anything
is published, so a cancelled run never leaves a version behind; a cancel that lands while the version uploads
withdraws it, see publish.py). With a `DurableRun` the training checkpoints and the result also live in the
artifact store, so a run redelivered to another worker resumes where the last checkpoint left it.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from agnews_core.drift import VOCABULARY_FILE
from agnews_core.registry import ModelRegistry, new_version_id
from agnews_core.storage import open_store
from pydantic import BaseModel

from agnews_trainer.config import RunConfig
from agnews_trainer.durable import DurableRun
from agnews_trainer.evaluation import EvalResult, classification_metrics, evaluate_model
from agnews_trainer.feedback_rows import add_feedback_rows
from agnews_trainer.ingestion import DataCard, IngestResult, ingest, load_ingested, read_eval_data
from agnews_trainer.manifest import git_commit, recording, stage_dir, write_json
from agnews_trainer.progress import PipelineCancelled, RunReporter
from agnews_trainer.publish import PublishCancelled, PublishResult, publish_model
from agnews_trainer.training.presets import ResolvedModel
from agnews_trainer.transformation import to_model_frame, transform_frames
from agnews_trainer.types import CancelFn, RunProgressFn, Splits, TrainingConfig, TrainResult
from agnews_trainer.validation import REPORT_NAME, require_valid_labels, validate_frames

__all__ = ["PipelineCancelled", "RunResult", "SecondaryProcessDone", "evaluate_registered", "run_pipeline"]

log = logging.getLogger(__name__)

Frames = dict[str, pd.DataFrame]


class SecondaryProcessDone(Exception):
    """Raised on ranks > 0 of a multi-process launch once training ends: only rank 0 evaluates and publishes."""


def process_rank() -> int:
    """This process's rank under torchrun / `accelerate launch` (both set RANK); 0 when run alone."""
    return int(os.environ.get("RANK", "0"))


class RunResult(BaseModel):
    """What one run produced: the `agnews-train run` JSON and a training job's result."""

    model_config = {"protected_namespaces": ()}

    version: str
    promoted: bool
    promotion_reason: str
    champion: str | None
    accuracy: float  # as served (what the registry compares)
    macro_f1: float
    fp32_accuracy: float | None = None
    served_backend: str | None = None
    kind: str
    preset: str
    base_model: str | None
    run_dir: str
    registry_uri: str
    test_data_hash: str
    data_hash: str
    n_train: int
    n_test: int
    seconds: float
    train_seconds: float | None = None
    stopped_reason: str | None = None
    resumed_from_step: int | None = None
    warnings: int = 0


def open_registry(cfg: RunConfig) -> ModelRegistry:
    return ModelRegistry(open_store(cfg.registry_uri, s3_endpoint_url=cfg.s3_endpoint_url, s3_region=cfg.s3_region))


def new_run_dir(work_dir: Path) -> Path:
    """work_dir/runs/<UTC time>-<hex>: sortable, unique even for concurrent runs."""
    return work_dir / "runs" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class _RunContext:
    """What every stage of one run shares: its config, reporter, registry and folder."""

    cfg: RunConfig
    rep: RunReporter
    train_cfg: TrainingConfig
    resolved: ResolvedModel
    registry: ModelRegistry
    run_dir: Path
    rank: int
    durable: DurableRun | None = None  # checkpoints and result in the artifact store (training jobs only)
    started: float = field(default_factory=time.perf_counter)
    version: str = ""
    git_sha: str | None = None

    def stage(self, name: str, message: str) -> Path:
        self.rep.stage(name, message)
        return stage_dir(self.run_dir, name)


def run_pipeline(
    cfg: RunConfig,
    progress: RunProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    commit: Callable[[], bool] | None = None,
    durable: DurableRun | None = None,
) -> RunResult:
    """Ingest, validate, transform, train, evaluate and publish (then maybe promote) one model.

    `commit` (the job's point of no return, see publish.py) and `durable` (checkpoints and result in the
    artifact store) come from the training task; the CLI runs without them.
    """
    run = _open_run(cfg, RunReporter(progress, cancel), durable)
    if isinstance(run, RunResult):
        return run  # a redelivered job: its result stands
    ingested, frames, card = _ingest(run)
    report = validate_frames(frames, card, run.stage("validation", "validating data"), cfg.validation)
    splits = _transform(run, frames, card)
    trained = _train(run, splits)
    evaluated = _evaluate(run, trained, splits, card)
    card_files = [ingested.out_dir / name for name in ("data_card.json", VOCABULARY_FILE)]
    published = _publish(run, trained, evaluated, splits, card_files, commit)
    return _finish(run, trained, evaluated, published, splits, card, len(report.warnings))


def _open_run(cfg: RunConfig, rep: RunReporter, durable: DurableRun | None) -> _RunContext | RunResult:
    """Fail fast on a bad preset or an unreachable registry; pick the run folder; spot a finished run."""
    from agnews_trainer.training.presets import resolve_for_config

    train_cfg = cfg.training_config()
    resolved = resolve_for_config(train_cfg)  # an unknown preset fails now, not after ingesting the data
    registry = open_registry(cfg)
    registry.store.list("aliases")  # an unreachable S3 registry fails now, not after training
    rank = process_rank()
    run_dir = cfg.run_dir or new_run_dir(cfg.work_dir)
    if rank > 0:
        # Every rank ingests and transforms the same data (deterministic, seeded) in a folder of its own.
        run_dir = run_dir / f"rank{rank}"
    if (run_dir / "run.json").is_file():
        # A redelivered job (same run folder) must not publish a second version: its result stands.
        log.info("run folder %s already holds a finished run; returning its result", run_dir)
        return RunResult.model_validate_json((run_dir / "run.json").read_text())
    if durable is not None and (done := durable.result()) is not None:
        log.info("%s already holds this run's result; returning it", durable.prefix)
        return RunResult.model_validate(done)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run_config.json", cfg.model_dump(mode="json"))
    log.info("run folder %s", run_dir)
    return _RunContext(cfg, rep, train_cfg, resolved, registry, run_dir, rank, durable)


def _ingest(run: _RunContext) -> tuple[IngestResult, Frames, DataCard]:
    cfg = run.cfg
    out = run.stage("ingestion", f"reading {cfg.data}")
    ingested = ingest(cfg.data, out, s3_endpoint_url=cfg.s3_endpoint_url, s3_region=cfg.s3_region)
    if cfg.with_feedback:
        add_feedback_rows(ingested.out_dir, run.registry.store)
    frames, card = load_ingested(ingested.out_dir)
    return ingested, frames, card


def _transform(run: _RunContext, frames: Frames, card: DataCard) -> Splits:
    out = run.stage("transformation", "building model inputs and splits")
    cfg = run.cfg
    return transform_frames(
        frames, card, out, val_fraction=cfg.val_fraction, seed=cfg.seed, max_val_rows=cfg.max_val_samples
    )


def _train(run: _RunContext, splits: Splits) -> TrainResult:
    from agnews_trainer.training import train_model

    out = run.stage("training", f"training {run.cfg.preset}")
    with recording(out, "training") as rec:
        rec.params = run.train_cfg.model_dump(mode="json")
        # model/ is what gets published; the training package keeps its checkpoints beside it (resume).
        durable = run.durable if run.rank == 0 else None
        if durable is not None:
            durable.restore_checkpoint(rec.out_dir / "checkpoints")
        trained = train_model(
            run.train_cfg,
            splits,
            rec.out_dir / "model",
            progress=run.rep.for_stage("training"),
            cancel=run.rep.cancelled,
            on_checkpoint=durable.save_checkpoint if durable is not None else None,
        )
        rec.summary = {"kind": trained.kind, "base_model": trained.base_model, **trained.stats}
    run.rep.check_cancel()
    if run.rank > 0:
        # DDP kept every rank's weights identical; a second publish would only add a duplicate version.
        raise SecondaryProcessDone(f"rank {run.rank} finished training; rank 0 evaluates and publishes")
    run.version, run.git_sha = new_version_id(trained.kind), git_commit()
    if run.durable is not None:
        run.version = run.durable.version(run.version)  # one version per run, even across redeliveries
    return trained


def _config_record(run: _RunContext) -> dict[str, Any]:
    return {"training": run.train_cfg.model_dump(mode="json"), "data": run.cfg.data, "seed": run.cfg.seed}


def _evaluate(run: _RunContext, trained: TrainResult, splits: Splits, card: DataCard) -> EvalResult:
    out = run.stage("evaluation", "evaluating on the test split, as served")
    evaluated = evaluate_model(
        trained.model_dir,
        trained.kind,
        splits,
        out,
        context={
            "version": run.version,
            "kind": trained.kind,
            "preset": run.cfg.preset,
            "base_model": trained.base_model or run.resolved.base_model,
            "git_commit": run.git_sha,
            "data_source": run.cfg.data,
            "content_hash": card.content_hash,
            "config": _config_record(run),
            "train_stats": trained.stats,
        },
        max_length=run.train_cfg.max_length,
        latency_samples=run.cfg.latency_samples,
    )
    run.rep.check_cancel()
    return evaluated


def _publish(
    run: _RunContext,
    trained: TrainResult,
    evaluated: EvalResult,
    splits: Splits,
    extra_files: list[Path],
    commit: Callable[[], bool] | None,
) -> PublishResult:
    cfg = run.cfg
    try:
        published = publish_model(
            run.registry,
            version=run.version,
            kind=trained.kind,
            preset=cfg.preset,
            base_model=trained.base_model or run.resolved.base_model or None,
            model_dir=trained.model_dir,
            eval_dir=evaluated.out_dir,
            metrics=evaluated.metrics,
            test_data_hash=splits.test_data_hash,
            train_data_hash=splits.train_data_hash,
            out_dir=run.stage("publish", f"publishing {run.version}"),
            extra_files=[*extra_files, run.run_dir / "validation" / REPORT_NAME],
            config={**_config_record(run), "train_stats": trained.stats},
            git_commit=run.git_sha,
            promote=cfg.promote,
            metric=cfg.promotion_metric,
            min_delta=cfg.promotion_min_delta,
            alpha=cfg.promotion_alpha,
            commit=commit,
        )
    except PublishCancelled as exc:
        raise PipelineCancelled(str(exc)) from None
    run.rep.report("publish", 1.0, f"{run.version} {'promoted' if published.promoted else 'kept as candidate'}")
    return published


def _finish(
    run: _RunContext,
    trained: TrainResult,
    evaluated: EvalResult,
    published: PublishResult,
    splits: Splits,
    card: DataCard,
    warnings: int,
) -> RunResult:
    result = RunResult(
        version=run.version,
        promoted=published.promoted,
        promotion_reason=published.reason,
        champion=published.champion,
        accuracy=evaluated.accuracy,
        macro_f1=evaluated.macro_f1,
        fp32_accuracy=evaluated.metrics["fp32"]["accuracy"],
        served_backend=evaluated.metrics["served"]["backend"],
        kind=trained.kind,
        preset=run.cfg.preset,
        base_model=published.manifest.base_model,
        run_dir=str(run.run_dir),
        registry_uri=run.registry.uri,
        test_data_hash=splits.test_data_hash,
        data_hash=card.content_hash,
        n_train=len(splits.train),
        n_test=len(splits.test),
        seconds=round(time.perf_counter() - run.started, 2),
        train_seconds=trained.stats.get("seconds"),
        stopped_reason=trained.stats.get("stopped_reason"),
        resumed_from_step=trained.stats.get("resumed_from_step"),
        warnings=warnings,
    )
    write_json(run.run_dir / "run.json", result.model_dump(mode="json"))
    if run.durable is not None:
        run.durable.write_result(result.model_dump(mode="json"))
    return result


def evaluate_registered(
    registry: ModelRegistry,
    ref: str,
    data: str,
    cache_dir: Path,
    *,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
) -> dict[str, Any]:
    """Metrics, as served, of a registered version ('champion', 'latest' or an id) on any AG News CSV or folder."""
    from agnews_inference.loader import trained_max_length

    from agnews_trainer.served import load_served

    version = registry.resolve(ref)
    manifest = registry.get(version)
    frame, name = read_eval_data(data, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region)
    require_valid_labels(frame, name)
    model = to_model_frame(frame)
    model_dir = registry.materialize(version, cache_dir)
    max_length = trained_max_length(manifest)  # what inference serves it at
    served = load_served(model_dir, manifest.kind, max_length=max_length, cache_dir=cache_dir / "compiled")
    proba = served.predict_proba(model["text"].astype(str).tolist())
    metrics = classification_metrics(model["label"].to_numpy(), proba)
    return {"version": version, "kind": manifest.kind, "backend": served.backend, "data": data, **metrics}
