"""The fault suite's stack: one per module, with a tiny real BERT to train and fast leases and sweeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stack import Stack

FAST = {"TRAINER_JOB_LEASE_S": "4"}


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures_models import build_tiny_transformer

    return build_tiny_transformer(tmp_path_factory.mktemp("tiny-bert"), vocab_size=400)


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis (persisted), inference, batch + training workers, gateway and reaper; a trained tfidf champion."""
    # the tiny BERT is a model folder, not a preset name: the operator allows those here
    extra = {"GATEWAY_TRAINING_PRESETS_EXTRA": "true"}
    with Stack.start(
        tmp_path_factory.mktemp("faults"), champion="train", training_env=dict(FAST), gateway_env=extra
    ) as running:
        yield running
