"""Tiny real training runs (a 2-layer, 32-wide BERT built in conftest) through our loop: learning, limits, resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from agnews_core.labels import id2label, label_id_to_index
from agnews_core.text import model_input
from agnews_trainer.training import predict_proba, train_model
from agnews_trainer.types import Splits, TrainingConfig
from trainer_helpers import synthetic_rows


def _frame(n: int, seed: int, start: int) -> pd.DataFrame:
    rows = synthetic_rows(n, seed=seed, start=start)
    return pd.DataFrame(
        {"text": [model_input(t, d) for _, t, d in rows], "label": [label_id_to_index(int(lab)) for lab, _, _ in rows]}
    )


@pytest.fixture(scope="module")
def splits() -> Splits:
    return Splits(
        train=_frame(240, 1, 0),
        validation=_frame(60, 2, 50_000),
        test=_frame(80, 3, 100_000),
        test_data_hash="test-hash",
        train_data_hash="train-hash",
    )


@pytest.fixture
def tiny_config(tiny_bert: Path) -> Callable[..., TrainingConfig]:
    def make(**overrides: object) -> TrainingConfig:
        values: dict[str, object] = {
            "preset": "bert",
            "model_name_or_path": str(tiny_bert),
            "epochs": 8,
            "learning_rate": 3e-3,
            "batch_size": 16,
            "eval_batch_size": 16,  # several validation batches per pass
            "max_length": 32,
            "evals_per_epoch": 2,
            "early_stopping_patience": 0,
            "num_threads": 1,
        }
        values.update(overrides)
        return TrainingConfig(**values)  # type: ignore[arg-type]

    return make


def _accuracy(model_dir: Path, frame: pd.DataFrame) -> float:
    proba = predict_proba(model_dir, "transformers", frame["text"].tolist(), batch_size=32)
    return float((proba.argmax(1) == frame["label"].to_numpy()).mean())


def test_learns_separable_data_and_saves_a_ready_model(tiny_config, splits: Splits, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    result = train_model(tiny_config(), splits, tmp_path / "model", progress=lambda f, m: seen.append((f, m)))

    assert result.kind == "transformers" and result.stats["stopped_reason"] == "completed"
    assert result.stats["best_val_accuracy"] > 0.6  # chance is 0.25
    assert _accuracy(result.model_dir, splits.test) > 0.6
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["id2label"] == {str(k): v for k, v in id2label().items()}
    assert config["label2id"] == {v: k for k, v in id2label().items()}
    assert config["agnews_kind"] == "transformers" and config["agnews_max_length"] == 32
    assert (result.model_dir / "tokenizer.json").exists()
    proba = predict_proba(result.model_dir, "transformers", ["goal coach playoff", ""], batch_size=2)
    assert proba.shape == (2, 4) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert seen and seen[-1][0] == 1.0 and all(0.0 <= f <= 1.0 for f, _ in seen)
    assert result.stats["examples_per_s"] > 0 and (tmp_path / "checkpoints" / "last" / "state.json").exists()


def test_max_steps_is_honoured(tiny_config, splits: Splits, tmp_path: Path) -> None:
    result = train_model(tiny_config(max_steps=7), splits, tmp_path / "model")
    assert result.stats["steps"] == 7 and result.stats["stopped_reason"] == "max_steps"
    assert result.stats["eval_history"][-1]["step"] == 7  # the final weights were validated


def test_step_callbacks_see_every_step_and_their_time_is_not_training_time(
    tiny_config, splits: Splits, tmp_path: Path, tiny_bert: Path
) -> None:
    import time

    from agnews_trainer.training.loop import StepEvent, train_transformer
    from agnews_trainer.training.presets import resolve_model

    events: list[StepEvent] = []

    def slow_probe(event: StepEvent) -> None:
        events.append(event)
        time.sleep(0.3)  # a benchmark probe evaluating a snapshot, say

    result = train_transformer(
        tiny_config(max_steps=5), splits, tmp_path / "model", resolve_model(str(tiny_bert)), callbacks=[slow_probe]
    )
    assert [e.step for e in events] == [1, 2, 3, 4, 5] and all(e.rows == 16 for e in events)
    assert [e.examples for e in events] == [16, 32, 48, 64, 80]
    # 1.5 s slept in callbacks, none of it on the training clock the budget and schedule run on.
    assert result.stats["train_seconds"] < result.stats["seconds"] - 1.4
    assert events[0].model is not None


def test_time_budget_stops_cleanly_and_keeps_a_model(tiny_config, splits: Splits, tmp_path: Path) -> None:
    budget_min = 1.5 / 60
    result = train_model(tiny_config(epochs=100, time_budget_min=budget_min), splits, tmp_path / "model")
    assert result.stats["stopped_reason"] == "time_budget"
    assert 0 < result.stats["steps"] < result.stats["total_steps"]
    assert result.stats["train_seconds"] < budget_min * 60 + 5
    assert _accuracy(result.model_dir, splits.test) >= 0.0  # the saved model loads and predicts


def test_cancel_stops_and_a_rerun_resumes_to_the_same_weights(tiny_config, splits: Splits, tmp_path: Path) -> None:
    cfg = tiny_config(max_steps=24, evals_per_epoch=1)
    reference = train_model(cfg, splits, tmp_path / "ref" / "model")

    calls = {"n": 0}

    def cancel_after_10() -> bool:
        calls["n"] += 1
        return calls["n"] > 10

    interrupted = train_model(cfg, splits, tmp_path / "run" / "model", cancel=cancel_after_10)
    assert interrupted.stats["stopped_reason"] == "cancelled" and interrupted.stats["steps"] == 10

    resumed = train_model(cfg, splits, tmp_path / "run" / "model")
    assert resumed.stats["resumed_from_step"] == 10 and resumed.stats["steps"] == 24
    texts = splits.test["text"].tolist()
    np.testing.assert_allclose(
        predict_proba(resumed.model_dir, "transformers", texts),
        predict_proba(reference.model_dir, "transformers", texts),
        atol=1e-4,
    )
    again = train_model(cfg, splits, tmp_path / "run" / "model")  # a finished run resumes to "done" at once
    assert again.stats["resumed_from_step"] == 24 and again.stats["steps"] == 24


def test_checkpoint_from_another_setup_is_not_resumed(tiny_config, splits: Splits, tmp_path: Path) -> None:
    train_model(tiny_config(max_steps=5), splits, tmp_path / "model")
    other = train_model(tiny_config(max_steps=5, seed=7), splits, tmp_path / "model")
    assert other.stats["resumed_from_step"] is None


def test_cancel_before_the_first_step(tiny_config, splits: Splits, tmp_path: Path) -> None:
    result = train_model(tiny_config(), splits, tmp_path / "model", cancel=lambda: True)
    assert result.stats["stopped_reason"] == "cancelled" and result.stats["steps"] == 0
    assert (result.model_dir / "config.json").exists()


def test_early_stopping_restores_the_best_weights(tiny_config, splits: Splits, tmp_path: Path) -> None:
    # At a learning rate this small validation accuracy stays flat after the first pass: no pass improves on it.
    cfg = tiny_config(epochs=50, evals_per_epoch=4, early_stopping_patience=2, learning_rate=1e-12, warmup_ratio=0.0)
    result = train_model(cfg, splits, tmp_path / "model")
    history = result.stats["eval_history"]
    assert result.stats["stopped_reason"] == "early_stopping"
    assert len(history) == 3 and result.stats["best_step"] == history[0]["step"]
    assert _accuracy(result.model_dir, splits.validation) == pytest.approx(history[0]["accuracy"])


def test_max_train_samples_subsamples_stratified(tiny_config, splits: Splits, tmp_path: Path) -> None:
    result = train_model(tiny_config(max_train_samples=40, max_steps=2), splits, tmp_path / "model")
    assert result.stats["train_rows"] == 40


def test_moving_average_is_validated_saved_and_resumed(tiny_config, splits: Splits, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    cfg = tiny_config(max_steps=24, evals_per_epoch=1, ema_decay=0.9, label_smoothing=0.1)
    reference = train_model(cfg, splits, tmp_path / "ref" / "model")
    assert reference.stats["ema_decay"] == 0.9 and reference.stats["label_smoothing"] == 0.1

    # What was saved is the average (the best validated one), not the weights the optimizer left.
    last = tmp_path / "ref" / "checkpoints" / "last"
    trained = torch.load(last / "model.pt", weights_only=True)
    average = torch.load(last / "average.pt", weights_only=True)
    history = reference.stats["eval_history"]
    final_is_best = history[-1]["accuracy"] >= max(h["accuracy"] for h in history)
    kept = average["shadow"] if final_is_best else torch.load(last / "best.pt", weights_only=True)
    saved = AutoModelForSequenceClassification.from_pretrained(reference.model_dir).state_dict()
    name = "classifier.weight"
    torch.testing.assert_close(saved[name], kept[name].to(saved[name].dtype))
    assert not torch.allclose(saved[name], trained[name])

    # Interrupted and resumed, the average continues where it was: the same model as the uninterrupted run.
    calls = {"n": 0}

    def cancel_after_10() -> bool:
        calls["n"] += 1
        return calls["n"] > 10

    train_model(cfg, splits, tmp_path / "run" / "model", cancel=cancel_after_10)
    resumed = train_model(cfg, splits, tmp_path / "run" / "model")
    assert resumed.stats["resumed_from_step"] == 10
    texts = splits.test["text"].tolist()
    np.testing.assert_allclose(
        predict_proba(resumed.model_dir, "transformers", texts),
        predict_proba(reference.model_dir, "transformers", texts),
        atol=1e-4,
    )
