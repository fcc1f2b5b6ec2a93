"""Trainer fixtures: synthetic data folders and a tiny BERT (helpers live in trainer_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from trainer_helpers import build_tiny_bert, synthetic_rows, write_agnews_folder


@pytest.fixture
def agnews_folder(tmp_path: Path) -> Path:
    return write_agnews_folder(tmp_path / "agnews")


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(**kwargs: object) -> Path:
        return write_agnews_folder(tmp_path / f"data{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agnews_core.text import model_input

    corpus = [model_input(t, d) for _, t, d in synthetic_rows(400, seed=0)]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), corpus)
