"""The pipeline: six stages composed, each leaving its folder and manifest in the run folder.

    run_dir/ingestion/  validation/  transformation/  training/  evaluation/  publish/  run.json

`run_pipeline` is what `agnews-train run` and the Celery training task call. Progress is reported as a
fraction of the whole run; cancellation is honoured between stages and inside training (before anything
is published, so a cancelled run never leaves a version behind; a cancel that lands while the version uploads
withdraws it, see publish.py). With a `DurableRun` the training checkpoints and the result also live in the
artifact store, so a run redelivered to another worker resumes where the last checkpoint left it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agnews_core.errors import AgnewsError
from agnews_core.registry import ModelRegistry, new_version_id
from agnews_core.storage import open_store
from pydantic import BaseModel

from agnews_trainer.config import RunConfig
from agnews_trainer.durable import DurableRun
from agnews_trainer.evaluation import classification_metrics, evaluate_model
from agnews_trainer.feedback_rows import add_feedback_rows
from agnews_trainer.ingestion import ingest, load_ingested, read_eval_data
from agnews_trainer.manifest import git_commit, recording, stage_dir, write_json
from agnews_trainer.publish import PublishCancelled, publish_model
from agnews_trainer.transformation import to_model_frame, transform_frames
from agnews_trainer.types import CancelFn, ProgressFn
from agnews_trainer.validation import REPORT_NAME, require_valid_labels, validate_frames

log = logging.getLogger(__name__)

# Share of the run's progress bar each stage owns; training dominates every real run.
_SPANS: dict[str, tuple[float, float]] = {
    "ingestion": (0.0, 0.04),
    "validation": (0.04, 0.07),
    "transformation": (0.07, 0.10),
    "training": (0.10, 0.88),
    "evaluation": (0.88, 0.96),
    "publish": (0.96, 1.0),
}


class PipelineCancelled(AgnewsError):
    """The run was cancelled (CancelFn returned True); nothing was published."""


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
    accuracy: float
    macro_f1: float
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


class _Reporter:
    """Maps each stage's own 0-1 progress onto the run's bar, and checks for cancellation."""

    def __init__(self, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        self._progress = progress
        self._cancel = cancel

    def stage(self, name: str, message: str | None = None) -> None:
        self.check_cancel()
        self.report(name, 0.0, message or f"{name}")

    def report(self, name: str, fraction: float, message: str) -> None:
        start, end = _SPANS[name]
        if self._progress is not None:
            self._progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    def for_stage(self, name: str) -> ProgressFn:
        return lambda fraction, message: self.report(name, fraction, message)

    def cancelled(self) -> bool:
        return bool(self._cancel and self._cancel())

    def check_cancel(self) -> None:
        if self.cancelled():
            raise PipelineCancelled("training run cancelled; nothing was published")


def run_pipeline(
    cfg: RunConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    commit: Callable[[], bool] | None = None,
    durable: DurableRun | None = None,
) -> RunResult:
    """Ingest, validate, transform, train, evaluate and publish (then maybe promote) one model.

    `commit` (the job's point of no return, see publish.py) and `durable` (checkpoints and result in the
    artifact store) come from the training task; the CLI runs without them.
    """
    from agnews_trainer.training import train_model
    from agnews_trainer.training.presets import resolve_for_config

    started = time.perf_counter()
    rep = _Reporter(progress, cancel)
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

    rep.stage("ingestion", f"reading {cfg.data}")
    ingested = ingest(
        cfg.data, stage_dir(run_dir, "ingestion"), s3_endpoint_url=cfg.s3_endpoint_url, s3_region=cfg.s3_region
    )
    if cfg.with_feedback:
        add_feedback_rows(ingested.out_dir, open_registry(cfg).store)
    frames, card = load_ingested(ingested.out_dir)

    rep.stage("validation", "validating data")
    report = validate_frames(frames, card, stage_dir(run_dir, "validation"), cfg.validation)

    rep.stage("transformation", "building model inputs and splits")
    splits = transform_frames(
        frames,
        card,
        stage_dir(run_dir, "transformation"),
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        max_val_rows=cfg.max_val_samples,
    )

    rep.stage("training", f"training {cfg.preset}")
    with recording(stage_dir(run_dir, "training"), "training") as rec:
        rec.params = dataclasses.asdict(train_cfg)
        # model/ is what gets published; the training package keeps its checkpoints beside it (resume).
        if durable is not None and rank == 0:
            durable.restore_checkpoint(rec.out_dir / "checkpoints")
        trained = train_model(
            train_cfg,
            splits,
            rec.out_dir / "model",
            progress=rep.for_stage("training"),
            cancel=rep.cancelled,
            on_checkpoint=durable.save_checkpoint if durable is not None and rank == 0 else None,
        )
        rec.summary = {"kind": trained.kind, "base_model": trained.base_model, **trained.stats}
    rep.check_cancel()
    if rank > 0:
        # DDP kept every rank's weights identical; a second publish would only add a duplicate version.
        raise SecondaryProcessDone(f"rank {rank} finished training; rank 0 evaluates and publishes")

    version = new_version_id(trained.kind)
    if durable is not None:
        version = durable.version(version)
    sha = git_commit()
    config_record: dict[str, Any] = {"training": dataclasses.asdict(train_cfg), "data": cfg.data, "seed": cfg.seed}
    rep.stage("evaluation", "evaluating on the test split")
    evaluated = evaluate_model(
        trained.model_dir,
        trained.kind,
        splits,
        stage_dir(run_dir, "evaluation"),
        context={
            "version": version,
            "kind": trained.kind,
            "preset": cfg.preset,
            "base_model": trained.base_model or resolved.base_model,
            "git_commit": sha,
            "data_source": cfg.data,
            "content_hash": card.content_hash,
            "config": config_record,
            "train_stats": trained.stats,
        },
        batch_size=train_cfg.eval_batch_size,
        latency_samples=cfg.latency_samples,
    )
    rep.check_cancel()

    rep.stage("publish", f"publishing {version}")
    try:
        published = publish_model(
            registry,
            version=version,
            kind=trained.kind,
            preset=cfg.preset,
            base_model=trained.base_model or resolved.base_model or None,
            model_dir=trained.model_dir,
            eval_dir=evaluated.out_dir,
            metrics=evaluated.metrics,
            test_data_hash=splits.test_data_hash,
            train_data_hash=splits.train_data_hash,
            out_dir=stage_dir(run_dir, "publish"),
            extra_files=[ingested.out_dir / "data_card.json", run_dir / "validation" / REPORT_NAME],
            config={**config_record, "train_stats": trained.stats},
            git_commit=sha,
            promote=cfg.promote,
            metric=cfg.promotion_metric,
            min_delta=cfg.promotion_min_delta,
            commit=commit,
        )
    except PublishCancelled as exc:
        raise PipelineCancelled(str(exc)) from None
    rep.report("publish", 1.0, f"{version} {'promoted' if published.promoted else 'kept as candidate'}")

    result = RunResult(
        version=version,
        promoted=published.promoted,
        promotion_reason=published.reason,
        champion=published.champion,
        accuracy=evaluated.accuracy,
        macro_f1=evaluated.macro_f1,
        kind=trained.kind,
        preset=cfg.preset,
        base_model=published.manifest.base_model,
        run_dir=str(run_dir),
        registry_uri=registry.uri,
        test_data_hash=splits.test_data_hash,
        data_hash=card.content_hash,
        n_train=len(splits.train),
        n_test=len(splits.test),
        seconds=round(time.perf_counter() - started, 2),
        train_seconds=trained.stats.get("seconds"),
        stopped_reason=trained.stats.get("stopped_reason"),
        resumed_from_step=trained.stats.get("resumed_from_step"),
        warnings=len(report.warnings),
    )
    write_json(run_dir / "run.json", result.model_dump(mode="json"))
    if durable is not None:
        durable.write_result(result.model_dump(mode="json"))
    return result


def evaluate_registered(
    registry: ModelRegistry,
    ref: str,
    data: str,
    cache_dir: Path,
    *,
    batch_size: int = 64,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
) -> dict[str, Any]:
    """Metrics of a registered version ('champion', 'latest' or an id) on any AG News CSV or folder."""
    from agnews_trainer.training import predict_proba

    version = registry.resolve(ref)
    manifest = registry.get(version)
    frame, name = read_eval_data(data, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region)
    require_valid_labels(frame, name)
    model = to_model_frame(frame)
    model_dir = registry.materialize(version, cache_dir)
    proba = predict_proba(model_dir, manifest.kind, model["text"].astype(str).tolist(), batch_size=batch_size)
    metrics = classification_metrics(model["label"].to_numpy(), proba)
    return {"version": version, "kind": manifest.kind, "data": data, **metrics}
