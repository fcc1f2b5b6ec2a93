"""Stage 6, registry and promotion: publish an immutable version, then move `champion` only if it is better.

The registry (agnews_core.registry) guarantees the atomicity: files first, manifest last, alias swapped by
compare-and-swap. This stage gathers what a version carries and records the decision with its reason.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from agnews_core.errors import AgnewsError, ConflictError, ModelNotFoundError
from agnews_core.registry import ModelManifest, ModelRegistry, PromotionDecision, PromotionGate

from agnews_trainer.evaluation import ARTIFACTS, PREDICTIONS_NAME, read_predictions
from agnews_trainer.manifest import recording, write_json
from agnews_trainer.stats import paired_test
from agnews_trainer.types import ModelKind

log = logging.getLogger(__name__)

PACKAGE_DIR = "package"
REQUIRED_METRICS = ("accuracy", "macro_f1", "per_class", "confusion_matrix")


class PublishCancelled(AgnewsError):
    """The run was cancelled before it could commit; the uploaded version was withdrawn."""


@dataclass
class PublishResult:
    manifest: ModelManifest
    promoted: bool
    reason: str
    champion: str | None  # the champion after this stage
    decision: PromotionDecision | None


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)  # weights can be hundreds of MB: a hard link costs nothing
    except OSError:
        shutil.copy2(src, dest)


def assemble_package(model_dir: Path, extra_files: list[Path], dest: Path) -> Path:
    """One folder with the model's files plus evaluation and data artifacts at its top level."""
    if dest.exists():
        shutil.rmtree(dest)
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        _link_or_copy(path, dest / path.relative_to(model_dir))
    for path in extra_files:
        if path.is_file():
            _link_or_copy(path, dest / path.name)
    return dest


def significance_gate(registry: ModelRegistry, predictions: Path, alpha: float) -> PromotionGate:
    """Veto a winning candidate unless its served predictions beat the champion's in a paired test (p < alpha)."""
    ours = read_predictions(predictions.read_bytes())

    def gate(candidate: ModelManifest, champion: ModelManifest) -> str | None:
        try:
            theirs = read_predictions(registry.read_file(champion.version, PREDICTIONS_NAME))
        except (ModelNotFoundError, ValueError):
            return f"kept champion: {champion.version} has no per-row test predictions, so no paired test is possible"
        if theirs.get("labels") != ours["labels"]:
            return "kept champion: its test rows differ from the candidate's, so no paired test is possible"
        test = paired_test(np.asarray(ours["labels"]), np.asarray(ours["served"]), np.asarray(theirs["served"]))
        if test.delta_points <= 0 or not test.significant(alpha):
            return (
                f"kept champion: the gain of {test.delta_points:+.2f} points is not significant "
                f"(exact McNemar p={test.p_value:.3g}, {test.only_a} vs {test.only_b} discordant rows; "
                f"needs p < {alpha})"
            )
        return None

    return gate


def publish_model(
    registry: ModelRegistry,
    *,
    version: str,
    kind: ModelKind,
    preset: str,
    base_model: str | None,
    model_dir: Path,
    eval_dir: Path,
    metrics: dict[str, Any],
    test_data_hash: str,
    train_data_hash: str | None,
    out_dir: Path,
    extra_files: list[Path] | None = None,
    config: dict[str, Any] | None = None,
    git_commit: str | None = None,
    promote: bool = True,
    metric: str = "accuracy",
    min_delta: float = 0.0,
    commit: Callable[[], bool] | None = None,
    alpha: float | None = None,
) -> PublishResult:
    """Publish `model_dir` + evaluation artifacts as `version`; promote it if it beats the champion.

    `commit()` is asked once the version is uploaded, before the alias can move: False (the job was cancelled)
    withdraws the version and raises PublishCancelled; True means no cancel can land any more. So a
    cancelled run never moves the champion, and a run that moved it is never reported cancelled.
    """
    missing = [k for k in REQUIRED_METRICS if k not in metrics]
    if missing:
        raise ValueError(f"metrics lack {', '.join(missing)}: the gateway lists these for every version")
    with recording(out_dir, "publish") as rec:
        rec.inputs = {"model_dir": str(model_dir), "eval_dir": str(eval_dir), "registry": registry.uri}
        rec.params = {"promote": promote, "metric": metric, "min_delta": min_delta, "alpha": alpha}
        files = [eval_dir / name for name in ARTIFACTS] + list(extra_files or [])
        package = assemble_package(model_dir, files, out_dir / PACKAGE_DIR)
        draft = ModelManifest(
            version=version,
            kind=kind,
            preset=preset,
            base_model=base_model,
            metrics=metrics,
            test_data_hash=test_data_hash,
            train_data_hash=train_data_hash,
            config=config or {},
            git_commit=git_commit,
        )
        try:
            manifest = registry.publish(package, draft)
        except ConflictError:  # a redelivered run uploaded this version before it died: reuse it
            manifest = registry.get(version)
            log.info("%s was already published by an earlier delivery of this run", version)
        # The staged copy is only links to files the run folder already holds; drop it to save inodes.
        shutil.rmtree(package, ignore_errors=True)
        log.info("published %s to %s", version, registry.uri)
        if commit is not None and not commit():
            registry.withdraw(version)
            raise PublishCancelled(f"training run cancelled while publishing; {version} was withdrawn")

        decision: PromotionDecision | None = None
        current = registry.champion()
        if current is not None and current.version == version:  # promoted by that earlier delivery
            promoted, reason = True, current.reason
        elif promote:
            gate = significance_gate(registry, eval_dir / PREDICTIONS_NAME, alpha) if alpha else None
            decision = registry.promote_if_better(manifest, metric=metric, min_delta=min_delta, gate=gate)
            promoted, reason = decision.promoted, decision.reason
        else:
            promoted, reason = False, "promotion disabled for this run"
        alias = registry.champion()
        champion = alias.version if alias else None
        log.info("%s %s: %s", version, "promoted" if promoted else "not promoted", reason)
        write_json(out_dir / "registry_manifest.json", manifest.model_dump(mode="json"))
        rec.summary = {"version": version, "promoted": promoted, "reason": reason, "champion": champion}
        if decision is not None:
            write_json(out_dir / "promotion.json", decision.model_dump(mode="json"))
    return PublishResult(manifest=manifest, promoted=promoted, reason=reason, champion=champion, decision=decision)
