"""Whole pipeline runs on synthetic data: tfidf and a tiny BERT, every stage's artifacts, promotion outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from agnews_core.errors import ConfigError
from agnews_core.labels import LABEL_NAMES
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from agnews_trainer.config import RunConfig
from agnews_trainer.ingestion import ingest
from agnews_trainer.manifest import STAGES, read_stage_manifest
from agnews_trainer.pipeline import PipelineCancelled, RunResult, run_pipeline
from agnews_trainer.transformation import transform_dataset
from agnews_trainer.validation import validate_dataset
from trainer_helpers import write_agnews_folder

METRIC_KEYS = {"accuracy", "macro_f1", "per_class", "confusion_matrix"}


def _cfg(data: Path, tmp_path: Path, **kw: object) -> RunConfig:
    defaults: dict[str, object] = {
        "data": str(data),
        "registry_uri": str(tmp_path / "registry"),
        "work_dir": tmp_path / "work",
        "preset": "tfidf",
        "latency_samples": 4,
    }
    return RunConfig.model_validate({**defaults, **kw})


def _assert_run_folder(result: RunResult) -> None:
    run_dir = Path(result.run_dir)
    for stage in STAGES:
        assert read_stage_manifest(run_dir / stage).stage == stage
    evaluation = run_dir / "evaluation"
    for name in ("metrics.json", "confusion_matrix.json", "confusion_matrix.png", "model_card.md"):
        assert (evaluation / name).is_file(), name
    assert (evaluation / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert set(metrics["per_class"]) == set(LABEL_NAMES)
    assert set(metrics["per_class"]["World"]) == {"precision", "recall", "f1", "support"}
    assert sum(map(sum, metrics["confusion_matrix"])) == result.n_test
    assert {"batch_ms_per_text", "single_p50_ms"} <= set(metrics["latency"])
    card = (evaluation / "model_card.md").read_text()
    assert result.version in card and result.data_hash in card and "git commit" in card
    assert json.loads((run_dir / "run.json").read_text())["version"] == result.version


@pytest.fixture
def tfidf_run(agnews_folder: Path, tmp_path: Path) -> tuple[RunConfig, RunResult]:
    progress: list[tuple[float, str]] = []
    cfg = _cfg(agnews_folder, tmp_path)
    etas: list[float | None] = []
    result = run_pipeline(cfg, progress=lambda f, m, eta: (progress.append((f, m)), etas.append(eta)))
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # No estimate before training starts; one once it has paced itself; zero at the end.
    assert etas[0] is None and any(e is not None for e in etas[:-1]) and etas[-1] == 0.0
    assert all(e >= 0 for e in etas if e is not None)
    return cfg, result


def test_tfidf_run_publishes_and_promotes_first_version(tfidf_run: tuple[RunConfig, RunResult]) -> None:
    cfg, result = tfidf_run
    assert result.kind == "tfidf" and result.preset == "tfidf"
    assert result.promoted and result.promotion_reason == "no champion yet" and result.champion == result.version
    assert result.accuracy > 0.9 and 0 < result.macro_f1 <= 1
    _assert_run_folder(result)

    registry = ModelRegistry(LocalStore(cfg.registry_uri))
    manifest = registry.get(result.version)
    assert manifest.kind == "tfidf" and manifest.test_data_hash == result.test_data_hash
    assert set(manifest.metrics) >= METRIC_KEYS and manifest.train_data_hash
    for name in (
        "model.joblib",
        "config.json",
        "metrics.json",
        "data_card.json",
        "vocabulary.txt",
        "model_card.md",
        "confusion_matrix.png",
        "validation_report.json",
    ):
        assert name in manifest.files, name
        assert registry.read_file(result.version, name)


def test_equal_model_is_kept_and_other_test_data_is_refused(
    tfidf_run: tuple[RunConfig, RunResult], tmp_path: Path
) -> None:
    cfg, first = tfidf_run
    again = run_pipeline(cfg)  # tfidf is deterministic: same data, same accuracy
    assert not again.promoted and again.champion == first.version
    assert again.promotion_reason.startswith("kept champion: accuracy")

    other = write_agnews_folder(tmp_path / "other", test_seed=7)
    refused = run_pipeline(cfg.model_copy(update={"data": str(other)}))
    assert not refused.promoted and refused.champion == first.version
    assert "refused: candidate was evaluated on different test data" in refused.promotion_reason

    registry = ModelRegistry(LocalStore(cfg.registry_uri))
    assert [m.version for m in registry.list_versions()] == [first.version, again.version, refused.version]


def test_rerun_in_the_same_run_folder_returns_the_first_result(agnews_folder: Path, tmp_path: Path) -> None:
    cfg = _cfg(agnews_folder, tmp_path, run_dir=tmp_path / "job-1")
    first = run_pipeline(cfg)
    assert run_pipeline(cfg) == first  # a redelivered Celery task publishes nothing new
    assert len(ModelRegistry(LocalStore(cfg.registry_uri)).list_versions()) == 1


def test_no_promote_publishes_only(agnews_folder: Path, tmp_path: Path) -> None:
    result = run_pipeline(_cfg(agnews_folder, tmp_path, promote=False))
    assert not result.promoted and result.champion is None
    assert result.promotion_reason == "promotion disabled for this run"


def test_tiny_bert_run(agnews_folder: Path, tmp_path: Path, tiny_bert: Path) -> None:
    cfg = _cfg(
        agnews_folder,
        tmp_path,
        preset="bert",
        model_name_or_path=str(tiny_bert),
        max_steps=8,
        batch_size=16,
        learning_rate=1e-2,
        max_length=48,
    )
    result = run_pipeline(cfg)
    assert result.kind == "transformers" and result.promoted
    _assert_run_folder(result)
    registry = ModelRegistry(LocalStore(cfg.registry_uri))
    manifest = registry.get(result.version)
    assert {"config.json", "tokenizer.json", "model.safetensors", "metrics.json"} <= set(manifest.files)
    config = json.loads(registry.read_file(result.version, "config.json"))
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABEL_NAMES)}
    assert manifest.config["training"]["max_steps"] == 8
    # Scored as inference serves it (ONNX Runtime int8 at the trained length), with the fp32 figure beside it.
    metrics = manifest.metrics
    assert metrics["served"]["backend"] == "onnx-int8" and metrics["served"]["max_length"] == 48
    assert metrics["accuracy"] == metrics["served"]["accuracy"] == result.accuracy
    assert metrics["fp32"]["backend"] == "torch" and metrics["fp32"]["accuracy"] == result.fp32_accuracy
    assert 0.5 <= metrics["fp32_agreement"] <= 1.0
    predictions = json.loads(registry.read_file(result.version, "test_predictions.json"))
    assert len(predictions["served"]) == len(predictions["fp32"]) == len(predictions["labels"]) == result.n_test
    card = registry.read_file(result.version, "model_card.md").decode()
    assert "served (`onnx-int8`) accuracy" in card and "fp32 (`torch`) accuracy" in card


def test_eta_is_the_pace_since_training_began() -> None:
    from agnews_trainer.progress import RunReporter

    rep = RunReporter(None, None)
    assert rep.eta_s("ingestion", 0.02, now=0.0) is None  # before training: no basis for a pace
    assert rep.eta_s("training", 0.10, now=30.0) is None  # training starts: the clock starts
    assert rep.eta_s("training", 0.30, now=630.0) == 2100.0  # 0.2 of the run in 600 s: 0.7 left takes 2100 s
    assert rep.eta_s("evaluation", 0.90, now=2430.0) == 300.0
    assert rep.eta_s("publish", 1.0, now=2500.0) == 0.0


def test_cancel_stops_before_publishing(agnews_folder: Path, tmp_path: Path) -> None:
    seen: list[str] = []

    def cancel() -> bool:
        return any(m.startswith("training") for m in seen)

    with pytest.raises(PipelineCancelled):
        run_pipeline(_cfg(agnews_folder, tmp_path), progress=lambda f, m, eta: seen.append(m), cancel=cancel)
    assert not (tmp_path / "registry" / "models").exists()


def test_unknown_preset_fails_before_any_work(agnews_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        run_pipeline(_cfg(agnews_folder, tmp_path, preset="nope"))
    assert not (tmp_path / "work").exists()


def test_stages_run_one_at_a_time(agnews_folder: Path, tmp_path: Path, make_folder: Callable[..., Path]) -> None:
    ingest(str(agnews_folder), tmp_path / "ingestion")
    validate_dataset(tmp_path / "ingestion", tmp_path / "validation")
    splits = transform_dataset(tmp_path / "ingestion", tmp_path / "transformation", val_fraction=0.1, seed=3)
    again = transform_dataset(tmp_path / "ingestion", tmp_path / "again", val_fraction=0.1, seed=3)
    pd.testing.assert_frame_equal(splits.validation, again.validation)  # seeded
    assert len(splits.train) + len(splits.validation) == 200 and len(splits.test) == 80
    assert splits.validation["label"].value_counts().to_dict() == {0: 5, 1: 5, 2: 5, 3: 5}  # stratified
    assert set(splits.train["label"]) == {0, 1, 2, 3}
    # Model input is the shared text function's: entities decoded, backslashes gone, spaces collapsed.
    texts = " ".join(splits.train["text"]).lower()
    assert "#39;" not in texts and "quot;" not in texts and "\\" not in texts and "  " not in texts
    assert read_stage_manifest(tmp_path / "transformation").summary["test_data_hash"] == splits.test_data_hash


def test_secondary_rank_trains_but_never_publishes(
    agnews_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under torchrun / accelerate launch every process runs the pipeline; only rank 0 may publish.
    from agnews_trainer.pipeline import SecondaryProcessDone

    monkeypatch.setenv("RANK", "1")
    cfg = _cfg(agnews_folder, tmp_path, run_dir=tmp_path / "shared-run")
    with pytest.raises(SecondaryProcessDone, match="rank 1"):
        run_pipeline(cfg)
    assert ModelRegistry(LocalStore(tmp_path / "registry")).list_versions() == []
    assert (tmp_path / "shared-run" / "rank1" / "training").is_dir()
    assert not (tmp_path / "shared-run" / "rank1" / "run.json").exists()


def test_a_run_redone_after_dying_mid_publish_publishes_one_version(agnews_folder: Path, tmp_path: Path) -> None:
    """The first delivery uploaded (and promoted) its version, then died before writing its result."""
    from agnews_trainer.durable import DurableRun

    cfg = _cfg(agnews_folder, tmp_path, run_dir=tmp_path / "work" / "runs" / "job-a")
    store = LocalStore(tmp_path / "registry")
    first = run_pipeline(cfg, durable=DurableRun(store, "job-a"))
    (Path(first.run_dir) / "run.json").unlink()  # what the dead delivery never wrote
    store.delete("runs/job-a/run.json")
    again = run_pipeline(cfg, durable=DurableRun(store, "job-a"))
    registry = ModelRegistry(store)
    assert again.version == first.version and [m.version for m in registry.list_versions()] == [first.version]
    assert again.promoted and registry.champion().version == first.version  # type: ignore[union-attr]
    assert DurableRun(store, "job-a").result() == again.model_dump(mode="json")
