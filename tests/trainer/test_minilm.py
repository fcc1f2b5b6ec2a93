"""One short run of the real embedded default (`minilm`, from its installed model package) on real AG News rows."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from agnews_trainer.config import RunConfig
from agnews_trainer.pipeline import run_pipeline
from trainer_helpers import SHARED_DATA

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED_DATA / "train.csv").is_file(), reason="needs ../shared/data/agnews"),
]


def _slice(split: str, n: int, dest: Path) -> None:
    """The first n rows of a shared split, copied to a temporary folder (never into the repository)."""
    with open(SHARED_DATA / f"{split}.csv", newline="", encoding="utf-8") as src, open(dest, "w", newline="") as out:
        out.writelines(itertools.islice(_records(src), n + 1))


def _records(fh: TextIO) -> Iterator[str]:
    # Re-serialise through csv so rows spanning several physical lines are copied whole.
    writer_buffer: list[str] = []

    class _Sink:
        def write(self, text: str) -> None:
            writer_buffer.append(text)

    writer = csv.writer(_Sink(), lineterminator="\n")
    for row in csv.reader(fh):
        writer.writerow(row)
        yield writer_buffer.pop()


def test_minilm_short_run(tmp_path: Path) -> None:
    data = tmp_path / "agnews"
    data.mkdir()
    _slice("train", 200, data / "train.csv")
    _slice("test", 80, data / "test.csv")
    cfg = RunConfig(
        data=str(data),
        registry_uri=str(tmp_path / "registry"),
        work_dir=tmp_path / "work",
        preset="minilm",
        max_steps=10,
        batch_size=16,
        max_length=48,
        latency_samples=4,
        num_threads=2,
    )
    result = run_pipeline(cfg)
    assert result.kind == "transformers" and result.preset == "minilm" and result.promoted
    # Ten steps on a shared 2-core CPU: well above chance (0.25) is all a smoke run can promise.
    assert result.n_test == 80 and result.accuracy > 0.3, result
    manifest = ModelRegistry(LocalStore(cfg.registry_uri)).get(result.version)
    assert manifest.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert {"model.safetensors", "tokenizer.json", "config.json", "model_card.md"} <= set(manifest.files)
