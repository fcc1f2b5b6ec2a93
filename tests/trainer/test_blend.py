"""The blend kind end to end on tiny models: trained, weight fitted on validation, published, served as one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from agnews_core.errors import ConfigError
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from agnews_inference.blend_backend import read_blend
from agnews_inference.loader import load_model
from agnews_inference.settings import InferenceSettings
from agnews_trainer.config import RunConfig
from agnews_trainer.pipeline import run_pipeline
from agnews_trainer.training.blend import fit_weight


def test_fit_weight_follows_the_better_part_on_validation() -> None:
    labels = np.array([0, 1, 2, 3] * 25)
    right = np.eye(4)[labels] * 0.9 + 0.025
    uniform_ish = np.roll(right, 1, axis=1)  # confidently wrong everywhere
    weight, report = fit_weight(labels, p_transformer=uniform_ish, p_tfidf=right)
    assert weight == 1.0 and report["validation_accuracy"] == 1.0 and report["transformer_validation_accuracy"] == 0.0
    weight, _ = fit_weight(labels, p_transformer=right, p_tfidf=uniform_ish)
    assert weight == 0.0


def test_blend_folder_errors_say_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "transformer").mkdir()
    (tmp_path / "blend.json").write_text(
        json.dumps({"parts": [{"folder": "transformer", "kind": "transformers", "weight": 0.7}]})
    )
    with pytest.raises(ConfigError, match=r"part weights sum to 0\.7, not 1"):
        read_blend(tmp_path)
    (tmp_path / "blend.json").write_text(json.dumps({"parts": [{"folder": "gone", "kind": "tfidf", "weight": 1.0}]}))
    with pytest.raises(ConfigError, match="part folder 'gone' is missing"):
        read_blend(tmp_path)


def test_blend_run_is_one_version_served_by_one_backend(agnews_folder: Path, tmp_path: Path, tiny_bert: Path) -> None:
    cfg = RunConfig.model_validate(
        {
            "data": str(agnews_folder),
            "registry_uri": str(tmp_path / "registry"),
            "work_dir": tmp_path / "work",
            "preset": "minilm-blend",
            "model_name_or_path": str(tiny_bert),  # a tiny encoder under the blend preset stays a blend
            "max_steps": 8,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "max_length": 48,
            "latency_samples": 2,
            "num_threads": 1,
        }
    )
    result = run_pipeline(cfg)
    assert result.kind == "blend" and result.promoted and result.served_backend == "blend(onnx-int8+sklearn)"
    registry = ModelRegistry(LocalStore(cfg.registry_uri))
    manifest = registry.get(result.version)
    assert manifest.kind == "blend" and manifest.metrics["fp32"]["backend"] == "blend(torch+sklearn)"
    assert {"blend.json", "transformer/model.safetensors", "tfidf/model.joblib", "config.json"} <= set(manifest.files)
    assert not any(name.startswith("checkpoints/") for name in manifest.files)
    # The transformer part checkpoints where a plain transformer run does (resume and durable copies look there).
    assert (Path(result.run_dir) / "training" / "checkpoints" / "last" / "state.json").is_file()
    blend = manifest.config["train_stats"]["blend"]
    parts = {p.kind: p.weight for p in read_blend(registry.materialize(result.version, tmp_path / "cache"))}
    assert parts["tfidf"] == pytest.approx(blend["tfidf_weight"]) and sum(parts.values()) == pytest.approx(1.0)
    # Fitted on validation, the blend is at least as good there as its better part.
    assert blend["validation_accuracy"] >= max(
        blend["transformer_validation_accuracy"], blend["tfidf_validation_accuracy"]
    )

    # The inference service loads the same version as one model and predicts what evaluation scored.
    settings = InferenceSettings.model_construct().model_copy(update={"cache_dir": tmp_path / "inference"})
    loaded = load_model(registry, result.version, settings)
    assert loaded.kind == "blend" and loaded.backend == "blend(onnx-int8+sklearn)"
    served = json.loads(registry.read_file(result.version, "test_predictions.json"))
    test = pd.read_parquet(Path(result.run_dir) / "transformation" / "test.parquet")
    proba = loaded.predictor.predict_proba(test["text"].astype(str).tolist())
    assert proba.shape == (result.n_test, 4) and np.allclose(proba.sum(1), 1.0)
    assert proba.argmax(1).tolist() == served["served"]
