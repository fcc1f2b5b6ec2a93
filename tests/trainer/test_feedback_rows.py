"""Retraining from feedback: the feedback and prediction logs (written by the real RecordLog) become train
rows in a real tfidf pipeline run, deduplicated against the test split, with their provenance in the data card."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
from agnews_core.recordlog import RecordLog
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from agnews_core.text import model_input
from agnews_trainer.config import RunConfig
from agnews_trainer.pipeline import run_pipeline

DAY = "2026-12-01"
FOOTBALL = "Striker scores twice as the league leaders win"


def write_log(store: LocalStore, prefix: str, records: list[dict[str, object]]) -> None:
    log: RecordLog[dict[str, object]] = RecordLog(store, prefix, lambda r: [r])
    for record in records:
        assert log.put(record)
    log.close()


def test_feedback_rows_reach_the_training_data_card(agnews_folder: Path, tmp_path: Path) -> None:
    with open(agnews_folder / "test.csv", newline="") as fh:
        test_row = next(csv.DictReader(fh))
    in_test = model_input(test_row["title"], test_row["description"])
    store = LocalStore(tmp_path / "registry")
    at = f"{DAY}T09:00:00.000Z"
    write_log(
        store,
        "predictions",
        [
            {
                "prediction_id": "p1",
                "time": at,
                "label": "World",
                "text": "Striker scores twice as the league leaders win",
            },
            {"prediction_id": "p2", "time": at, "label": "World", "text": in_test},
            {"prediction_id": "p3", "time": at, "label": "World"},  # logged without its text
            {"prediction_id": "p4", "time": at, "label": "Sports", "text": "Parliament passes the new budget bill"},
        ],
    )
    write_log(
        store,
        "feedback",
        [
            {"prediction_id": "p1", "time": f"{DAY}T10:00:00Z", "label": "Business"},
            {"prediction_id": "p1", "time": f"{DAY}T10:05:00Z", "label": "Sports"},  # replaces the one above
            {"prediction_id": "p2", "time": f"{DAY}T10:00:00Z", "label": "Sports"},
            {"prediction_id": "p3", "time": f"{DAY}T10:00:00Z", "label": "Sports"},
            {"prediction_id": "p4", "time": f"{DAY}T11:00:00Z", "label": "World"},
        ],
    )
    cfg = RunConfig.model_validate(
        {
            "data": str(agnews_folder),
            "registry_uri": str(tmp_path / "registry"),
            "work_dir": tmp_path / "work",
            "preset": "tfidf",
            "latency_samples": 2,
            "with_feedback": True,
        }
    )
    result = run_pipeline(cfg)
    card = json.loads(ModelRegistry(store).read_file(result.version, "data_card.json"))
    assert card["feedback"] == {
        "source": store.uri,
        "rows": 2,
        "dates": [DAY],
        "per_class": {"World": 1, "Sports": 1, "Business": 0, "Sci/Tech": 0},
        "dropped_in_test": 1,
        "dropped_without_text": 1,
    }
    assert card["rows"]["train"] == 200 + 2
    titles = set(pd.read_parquet(Path(result.run_dir) / "ingestion" / "train.parquet")["title"])
    assert FOOTBALL in titles and in_test not in titles
