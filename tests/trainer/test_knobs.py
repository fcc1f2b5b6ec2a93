"""One declaration per training knob: API schema, CLI flags, config keys and the job allow-list all follow it."""

from __future__ import annotations

import pytest
from agnews_core.errors import ConfigError
from agnews_core.schemas import TrainingJobRequest
from agnews_core.training_knobs import TrainingKnobs, api_knobs, flag_name
from agnews_trainer.cli import build_parser
from agnews_trainer.config import build_run_config
from agnews_trainer.tasks import JOB_PARAMS
from agnews_trainer.types import TrainingConfig
from pydantic import ValidationError


def _run_parser_flags() -> set[str]:
    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices["run"]  # type: ignore[union-attr]
    return {s for action in run._actions for s in action.option_strings}


def test_every_knob_has_a_flag_a_config_key_and_help() -> None:
    flags = _run_parser_flags()
    for name, info in TrainingKnobs.model_fields.items():
        assert info.description, f"{name} has no help text"
        if name == "extra":  # a mapping: config files only
            continue
        assert flag_name(name, info) in flags, name
        default = TrainingConfig().model_dump()[name]
        assert getattr(build_run_config({name: default}), name) == default  # a flat config-file key


def test_api_schema_and_allow_list_come_from_the_api_knobs() -> None:
    api = api_knobs()
    assert {"preset", "epochs", "time_budget_min", "max_train_samples", "max_steps"} <= set(api)
    assert "num_threads" not in api and "learning_rate" not in api  # worker-side knobs stay off the public API
    assert set(TrainingJobRequest.model_fields) == {*api, "data"} == JOB_PARAMS
    schema = TrainingJobRequest.model_json_schema()["properties"]
    assert schema["epochs"]["description"] == TrainingKnobs.model_fields["epochs"].description
    # Same bounds as the declaration, optional (null = the worker's default) in the request.
    assert {"exclusiveMinimum": 0, "maximum": 100, "type": "number"} in schema["epochs"]["anyOf"]
    assert TrainingJobRequest().model_dump(exclude_none=True) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"time_budget_min": 24 * 60 + 1}, "time_budget_min"),
        ({"num_threads": 2}, "num_threads"),
        ({"preset": "x" * 201}, "preset"),
        ({"data": "d" * 1001}, "data"),
    ],
)
def test_bounds_and_unknown_knobs_are_refused_at_the_api(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        TrainingJobRequest.model_validate(body)
    assert err.value.errors()[0]["loc"] == (field,)


def test_run_config_enforces_the_same_bounds() -> None:
    with pytest.raises(ConfigError, match="layer_lr_decay: Input should be less than or equal to 1"):
        build_run_config({"layer_lr_decay": 1.5})
    cfg = build_run_config({"epochs": 2, "layer_lr_decay": 0.8})
    assert (cfg.training_config().epochs, cfg.training_config().layer_lr_decay) == (2.0, 0.8)
