"""Stage 6 on a real registry (folder and S3): promotion rules, rollback, and an alias never seen half-written."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from agnews_core.registry import ModelRegistry, new_version_id
from agnews_core.storage import LocalStore, open_store
from agnews_trainer.evaluation import ARTIFACTS, PREDICTIONS_NAME, classification_metrics, plot_confusion_matrix
from agnews_trainer.publish import PublishResult, publish_model

HASH = "a" * 64


def _metrics(accuracy: float) -> dict[str, Any]:
    import numpy as np

    metrics = classification_metrics([0, 1, 2, 3], np.eye(4))
    return {**metrics, "accuracy": accuracy, "macro_f1": accuracy}


@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Path, Path]:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"agnews_kind": "tfidf"}')
    (model_dir / "model.joblib").write_bytes(b"weights" * 1000)
    eval_dir = tmp_path / "evaluation"
    eval_dir.mkdir()
    for name in ARTIFACTS:
        (eval_dir / name).write_text("{}")
    plot_confusion_matrix([[1, 0, 0, 0]] * 4, eval_dir / "confusion_matrix.png")
    return model_dir, eval_dir


def _publish(
    registry: ModelRegistry,
    artifacts: tuple[Path, Path],
    tmp_path: Path,
    accuracy: float,
    test_hash: str = HASH,
    **kw: Any,
) -> PublishResult:
    model_dir, eval_dir = artifacts
    version = new_version_id("tfidf")
    return publish_model(
        registry,
        version=version,
        kind="tfidf",
        preset="tfidf",
        base_model=None,
        model_dir=model_dir,
        eval_dir=eval_dir,
        metrics=_metrics(accuracy),
        test_data_hash=test_hash,
        train_data_hash="b" * 64,
        out_dir=tmp_path / "runs" / version,
        **kw,
    )


def test_promotion_rules_and_rollback(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    first = _publish(registry, artifacts, tmp_path, 0.80)
    assert first.promoted and first.champion == first.manifest.version
    assert {"model.joblib", "metrics.json", "model_card.md", "confusion_matrix.png"} <= set(first.manifest.files)

    better = _publish(registry, artifacts, tmp_path, 0.85)
    assert better.promoted and better.reason == "accuracy 0.8500 beats champion's 0.8000"
    worse = _publish(registry, artifacts, tmp_path, 0.70)
    assert not worse.promoted and worse.champion == better.manifest.version
    equal = _publish(registry, artifacts, tmp_path, 0.85)
    assert not equal.promoted and "does not beat" in equal.reason
    not_enough = _publish(registry, artifacts, tmp_path, 0.86, min_delta=0.02)
    assert not not_enough.promoted
    other_data = _publish(registry, artifacts, tmp_path, 0.99, test_hash="c" * 64)
    assert not other_data.promoted and other_data.reason.startswith("refused: candidate was evaluated on different")
    assert other_data.decision is not None and other_data.decision.candidate_value == 0.99
    by_f1 = _publish(registry, artifacts, tmp_path, 0.90, metric="macro_f1")
    assert by_f1.promoted and by_f1.decision is not None and by_f1.decision.metric == "macro_f1"

    alias = registry.rollback()
    assert alias.version == better.manifest.version and alias.history == [first.manifest.version]
    assert registry.rollback().version == first.manifest.version


def test_metrics_without_required_keys_are_refused(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    model_dir, eval_dir = artifacts
    with pytest.raises(ValueError, match="per_class, confusion_matrix"):
        publish_model(
            registry,
            version="v1",
            kind="tfidf",
            preset="tfidf",
            base_model=None,
            model_dir=model_dir,
            eval_dir=eval_dir,
            metrics={"accuracy": 1.0, "macro_f1": 1.0},
            test_data_hash=HASH,
            train_data_hash=None,
            out_dir=tmp_path / "out",
        )


def _hammer(registry: ModelRegistry, artifacts: tuple[Path, Path], tmp_path: Path, rounds: int) -> None:
    """Promote and roll back while readers read the alias and the version it names."""
    first = _publish(registry, artifacts, tmp_path, 0.5)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                alias = registry.champion()
                assert alias is not None
                manifest = registry.get(alias.version)  # never dangling
                assert manifest.version == alias.version
                registry.read_file(alias.version, "metrics.json")
                reads[0] += 1
            except Exception as exc:  # any failure is a half-written alias or a dangling one
                problems.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        champion = first.manifest.version
        for i in range(rounds):
            result = _publish(registry, artifacts, tmp_path, 0.5 + (i + 1) / (rounds + 2))
            assert result.promoted
            if i % 3 == 2:
                registry.rollback()
                registry.promote(result.manifest.version)
            champion = result.manifest.version
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not problems, problems[:3]
    assert reads[0] > rounds
    alias = registry.champion()
    assert alias is not None and alias.version == champion


def test_alias_never_half_written_on_a_folder(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    _hammer(ModelRegistry(LocalStore(tmp_path / "registry")), artifacts, tmp_path, rounds=12)


def test_alias_never_half_written_on_s3(
    tmp_path: Path, artifacts: tuple[Path, Path], s3_server: Any, s3_bucket: str
) -> None:
    store = open_store(f"s3://{s3_bucket}/agnews", s3_endpoint_url=s3_server.endpoint_url)
    _hammer(ModelRegistry(store), artifacts, tmp_path, rounds=6)


def test_a_cancel_before_commit_withdraws_the_version_and_keeps_the_champion(
    artifacts: tuple[Path, Path], tmp_path: Path
) -> None:
    from agnews_trainer.publish import PublishCancelled

    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    first = _publish(registry, artifacts, tmp_path, 0.5)
    with pytest.raises(PublishCancelled, match="was withdrawn"):
        _publish(registry, artifacts, tmp_path, 0.9, commit=lambda: False)  # the job was cancelled meanwhile
    assert [m.version for m in registry.list_versions()] == [first.manifest.version]
    assert registry.champion().version == first.manifest.version  # type: ignore[union-attr]
    assert not [p for p in (tmp_path / "registry" / "models").iterdir() if p.name != first.manifest.version]
    committed = _publish(registry, artifacts, tmp_path, 0.9, commit=lambda: True)
    assert committed.promoted and registry.champion().version == committed.manifest.version  # type: ignore[union-attr]


def _with_predictions(artifacts: tuple[Path, Path], tmp_path: Path, name: str, served: list[int]) -> tuple[Path, Path]:
    """A copy of the evaluation folder whose test_predictions.json holds these served predictions."""
    import json
    import shutil

    model_dir, eval_dir = artifacts
    copy = tmp_path / f"eval-{name}"
    shutil.copytree(eval_dir, copy)
    labels = [i % 4 for i in range(len(served))]
    (copy / PREDICTIONS_NAME).write_text(json.dumps({"labels": labels, "served": served, "fp32": None}))
    return model_dir, copy


def test_significance_gate_needs_a_paired_win(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    n = 400
    labels = [i % 4 for i in range(n)]
    wrong = [(y + 1) % 4 for y in labels]
    # Champion right on rows 0-299; a slightly better candidate adds 6 rows (p = 0.03), a clearly better one 60.
    champion = [y if i < 300 else w for i, (y, w) in enumerate(zip(labels, wrong, strict=True))]
    slightly = [y if i < 306 else w for i, (y, w) in enumerate(zip(labels, wrong, strict=True))]
    clearly = [y if i < 360 else w for i, (y, w) in enumerate(zip(labels, wrong, strict=True))]
    first = _publish(registry, _with_predictions(artifacts, tmp_path, "a", champion), tmp_path, 0.75)
    assert first.promoted

    kept = _publish(registry, _with_predictions(artifacts, tmp_path, "b", slightly), tmp_path, 0.765, alpha=0.01)
    assert not kept.promoted and kept.champion == first.manifest.version
    assert kept.reason.startswith(
        "kept champion: the gain of +1.50 points is not significant (exact McNemar p=0.0313, 6 vs 0"
    )
    # Without the setting (the default) the same candidate wins on the point estimate.
    plain = _publish(registry, _with_predictions(artifacts, tmp_path, "c", slightly), tmp_path, 0.765)
    assert plain.promoted
    won = _publish(registry, _with_predictions(artifacts, tmp_path, "d", clearly), tmp_path, 0.90, alpha=0.01)
    assert won.promoted and won.reason == "accuracy 0.9000 beats champion's 0.7650"
