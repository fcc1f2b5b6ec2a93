"""The gateway's preset allow-list (agnews_core.schemas.TRAINING_PRESETS) is the trainer's preset list."""

from __future__ import annotations

from agnews_core.schemas import TRAINING_PRESETS
from agnews_trainer.training.presets import PRESETS


def test_gateway_allows_exactly_the_trainer_presets() -> None:
    assert set(TRAINING_PRESETS) == set(PRESETS)
