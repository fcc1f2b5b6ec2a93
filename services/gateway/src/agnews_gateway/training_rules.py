"""What an admin may ask the training worker for, checked at the door (422 now, not a failure later)."""

from __future__ import annotations

from agnews_core.errors import InvalidInputError
from agnews_core.schemas import TRAINING_PRESETS, TrainingJobRequest

from agnews_gateway.settings import GatewaySettings


def check_training_request(body: TrainingJobRequest, settings: GatewaySettings) -> None:
    """InvalidInputError naming the rule and the setting that relaxes it."""
    # The request's fields are derived from the knobs at import time (schemas.py), so read them as a dict.
    asked = body.model_dump(exclude_none=True)
    preset: str | None = asked.get("preset")
    data: str | None = asked.get("data")
    max_steps: int | None = asked.get("max_steps")
    max_train_samples: int | None = asked.get("max_train_samples")
    if preset is not None and preset not in TRAINING_PRESETS and not settings.training_presets_extra:
        raise InvalidInputError(
            f"unknown preset {preset[:80]!r}: choose one of {', '.join(TRAINING_PRESETS)} "
            "(Hub ids and model paths need GATEWAY_TRAINING_PRESETS_EXTRA=true)"
        )
    if data is not None:
        prefixes = settings.data_prefixes
        if not prefixes:
            raise InvalidInputError(
                "'data' is not accepted: training jobs use the trainer's configured data "
                "(allow sources with GATEWAY_TRAINING_DATA_PREFIXES)"
            )
        parts = data.replace("\\", "/").split("/")
        if ".." in parts or "\x00" in data or not data.startswith(prefixes):
            raise InvalidInputError(f"'data' must start with one of {', '.join(prefixes)} (and hold no '..')")
    if max_steps is not None and max_steps > settings.training_max_steps:
        raise InvalidInputError(f"max_steps is at most {settings.training_max_steps} (GATEWAY_TRAINING_MAX_STEPS)")
    if max_train_samples is not None and max_train_samples > settings.training_max_samples:
        raise InvalidInputError(
            f"max_train_samples is at most {settings.training_max_samples} (GATEWAY_TRAINING_MAX_SAMPLES)"
        )
