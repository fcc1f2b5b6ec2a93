"""Readers' feedback as extra training rows: the feedback log joined to the prediction log on prediction_id.

Both logs live on the registry's store (docs/monitoring.md): `feedback/date=*/` (prediction_id, label, time)
and `predictions/date=*/` (prediction_id, text). The latest feedback per prediction wins (as for live
accuracy); a text that is in the test split is dropped, so feedback can never leak the test set into
training; predictions logged without their text cannot be used and are counted. What was added, from which
days, is written into the data card (`feedback`), so a model's provenance says how much came from readers.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from agnews_core.labels import LABEL_NAMES, label_id
from agnews_core.recordlog import days, read_day
from agnews_core.storage import ArtifactStore
from agnews_core.text import model_input
from pydantic import BaseModel, Field

from agnews_trainer.ingestion import (
    SPLITS,
    content_hash,
    load_ingested,
    per_class_counts,
    text_length_counts,
    write_vocabulary,
)
from agnews_trainer.manifest import write_json

log = logging.getLogger(__name__)

FEEDBACK_PREFIX = "feedback"
PREDICTIONS_PREFIX = "predictions"


class FeedbackProvenance(BaseModel):
    """The data card's record of feedback rows added to the training split."""

    source: str = Field(description="the store the logs were read from")
    rows: int = Field(description="feedback rows added to train")
    dates: list[str] = Field(description="days of the feedback used (UTC)")
    per_class: dict[str, int]
    dropped_in_test: int = Field(description="feedback on texts of the test split, left out")
    dropped_without_text: int = Field(description="feedback whose prediction was logged without its text")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_feedback(store: ArtifactStore) -> pd.DataFrame:
    """The latest feedback per prediction, with the logged text (None where it was not kept)."""
    feedback = [r for day in days(store, FEEDBACK_PREFIX) for r in read_day(store, FEEDBACK_PREFIX, day)]
    if not feedback:
        return pd.DataFrame({"prediction_id": [], "label": [], "time": [], "text": []}, dtype=object)
    frame = pd.DataFrame(feedback).sort_values("time").drop_duplicates("prediction_id", keep="last")
    # A prediction takes feedback for hours (the index TTL), so it was logged that day or the day before.
    wanted: set[str] = set()
    for day in frame["time"].str[:10].unique():
        d = date.fromisoformat(day)
        wanted |= {d.isoformat(), (d - timedelta(days=1)).isoformat()}
    texts: dict[str, str | None] = {}
    for day in sorted(wanted & set(days(store, PREDICTIONS_PREFIX))):
        for record in read_day(store, PREDICTIONS_PREFIX, day):
            texts[record["prediction_id"]] = record.get("text")
    frame["text"] = frame["prediction_id"].map(texts)
    return frame.reset_index(drop=True)


def feedback_rows(store: ArtifactStore, test: pd.DataFrame, first_row: int) -> tuple[pd.DataFrame, FeedbackProvenance]:
    """Feedback as rows in the ingested layout (row, label, title, description), not overlapping `test`."""
    frame = read_feedback(store)
    without_text = int(frame["text"].isna().sum())
    frame = frame[frame["text"].notna()]
    test_keys = {_key(model_input(t, d)) for t, d in zip(test["title"], test["description"], strict=True)}
    frame = frame.assign(key=[_key(model_input(t)) for t in frame["text"]])
    in_test = frame["key"].isin(test_keys)
    kept = frame[~in_test].drop_duplicates("key", keep="last")
    rows = pd.DataFrame(
        {
            "row": list(range(first_row, first_row + len(kept))),
            "label": [str(label_id(name)) for name in kept["label"]],
            "title": list(kept["text"]),
            "description": [""] * len(kept),
        }
    )
    provenance = FeedbackProvenance(
        source=store.uri,
        rows=len(rows),
        dates=sorted({str(t)[:10] for t in kept["time"]}),
        per_class={name: int((kept["label"] == name).sum()) for name in LABEL_NAMES},
        dropped_in_test=int(in_test.sum()),
        dropped_without_text=without_text,
    )
    log.info("feedback rows: %s", provenance.model_dump())
    return rows, provenance


def add_feedback_rows(ingested_dir: Path, store: ArtifactStore) -> FeedbackProvenance:
    """Append the feedback rows to an ingestion folder's train split and record them in its data card."""
    frames, card = load_ingested(ingested_dir)
    train = frames["train"]
    first = int(train["row"].max()) + 1 if len(train) else 1
    rows, provenance = feedback_rows(store, frames["test"], first)
    if len(rows):
        train = pd.concat([train, rows.astype(train.dtypes.to_dict())], ignore_index=True)
        train.to_parquet(ingested_dir / "train.parquet", index=False)
        card.rows["train"] = len(train)
        card.per_class["train"] = per_class_counts(train)
        card.text_length["train"] = text_length_counts(train)
        card.split_hashes["train"] = content_hash(train)
        card.content_hash = hashlib.sha256("".join(card.split_hashes[s] for s in SPLITS).encode()).hexdigest()
        write_vocabulary(ingested_dir, {**frames, "train": train}, card)  # feedback words join the vocabulary
    card.feedback = provenance.model_dump()
    write_json(ingested_dir / "data_card.json", card.model_dump(mode="json"))
    return provenance
