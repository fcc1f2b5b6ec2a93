"""RunConfig layering: environment < YAML < flags, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from agnews_core.errors import ConfigError
from agnews_trainer.config import TrainerSettings, build_run_config, load_yaml_config


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINER_PRESET", "tfidf")
    monkeypatch.setenv("TRAINER_REGISTRY_URI", "s3://models/agnews")
    monkeypatch.setenv("TRAINER_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = TrainerSettings()
    assert settings.metrics_port == 9101
    cfg = settings.run_config(max_steps=5, epochs=None)
    assert (cfg.preset, cfg.registry_uri, cfg.s3_endpoint_url, cfg.max_steps) == (
        "tfidf",
        "s3://models/agnews",
        "http://127.0.0.1:9000",
        5,
    )
    training = cfg.training_config()
    assert training.preset == "tfidf" and training.max_steps == 5 and training.epochs == 3.0  # dataclass default


def test_yaml_layer_merges_nested_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("preset: minilm\nvalidation: {max_text_chars: 900}\nnum_threads: 2\n")
    cfg = build_run_config({"validation": {"min_class_ratio": 0.2}}, load_yaml_config(path), {"preset": "tfidf"})
    assert cfg.preset == "tfidf"
    assert (cfg.validation.max_text_chars, cfg.validation.min_class_ratio) == (900, 0.2)
    assert cfg.training_config().num_threads == 2


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"nope": 1}, "nope: Extra inputs are not permitted"),
        ({"validation": {"max_text_chars": 0}}, "validation.max_text_chars"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_config_is_a_config_error(layer: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_run_config(layer)
    assert message in str(err.value)


def test_yaml_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("preset: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml_config(tmp_path / "list.yaml")
