"""Monitoring on the real stack: prediction ids, the prediction log on the store, feedback and live accuracy.

The session `stack` (tests/stack.py): real Redis, inference writing its prediction log (flushed every 0.5 s)
into the stack's registry folder and its feedback index into Redis, and the gateway joining feedback to it.
Other tests may send feedback to the same stack, so expectations are computed from the window's state before
this test's feedback plus what this test sends: still exact, and still computed here.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from agnews_core.labels import LABEL_NAMES
from monitoring_helpers import classify, labelled_rows, metric, window_of

pytestmark = pytest.mark.slow

SPORTS = "Yankees beat Red Sox in extra innings as Jeter singles home the winning run"


def test_logged_predictions_land_in_the_store_and_read_back_with_pandas(stack: Any) -> None:
    texts = [SPORTS, "Oil prices climb as OPEC cuts output", "New chip doubles battery life of phones"]
    with stack.client() as client:
        answer = classify(client, texts)
    ids = [p["prediction_id"] for p in answer["predictions"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    folder = Path(stack.registry_uri) / "predictions" / f"date={datetime.now(UTC):%Y-%m-%d}"
    deadline = time.monotonic() + 15
    frame = pd.DataFrame()
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.jsonl"))
        if files:
            frame = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
            if set(ids) <= set(frame["prediction_id"]):
                break
        time.sleep(0.2)
    assert set(ids) <= set(frame["prediction_id"]), f"records not written to {folder}"
    mine = frame.set_index("prediction_id").loc[ids]
    assert list(mine["label"]) == [p["label"] for p in answer["predictions"]]
    assert set(mine["model_version"]) == {answer["model_version"]}
    assert list(mine["text"]) == texts
    assert list(mine["text_sha256"]) == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert sorted(mine.iloc[0]["scores"]) == sorted(LABEL_NAMES)
    # The unknown-word share against the champion's published training vocabulary (the drift signal's input).
    vocabulary = set(stack.registry.read_file(answer["model_version"], "vocabulary.txt").decode().split())
    for text, share in zip(texts, mine["unknown_word_share"], strict=True):
        found = re.findall(r"[^\W\d_]+", text.lower())
        assert share == pytest.approx(sum(w not in vocabulary for w in found) / len(found), abs=1e-4), text


def test_live_accuracy_equals_the_share_of_correct_feedback(stack: Any) -> None:
    rows = labelled_rows(stack, 500)
    with stack.client() as client:
        predictions: list[dict[str, Any]] = []
        version = ""
        for start in range(0, len(rows), 50):
            answer = classify(client, [text for text, _ in rows[start : start + 50]])
            version = answer["model_version"]
            predictions += answer["predictions"]
        assert len(predictions) == 500
        n0, correct0 = window_of(client, version)
        right_before = metric(client, "agnews_feedback_total", model_version=version, correct="true") or 0.0
        wrong_before = metric(client, "agnews_feedback_total", model_version=version, correct="false") or 0.0

        right = 0
        for pred, (_, truth) in zip(predictions[:200], rows[:200], strict=True):
            response = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": truth})
            assert response.status_code == 200, response.text
            assert response.json()["correct"] is (pred["label"] == truth)
            right += pred["label"] == truth
        assert 0 < right < 200, "a test of accuracy needs both right and wrong answers"

        expected = (correct0 + right) / (n0 + 200)
        summary = client.get("/v1/monitoring").json()
        live = {row["model_version"]: row for row in summary["live_accuracy"]}[version]
        assert (live["n"], live["correct"]) == (n0 + 200, correct0 + right)
        assert live["accuracy"] == pytest.approx(expected, abs=1e-12)
        assert metric(client, "agnews_live_accuracy", model_version=version) == pytest.approx(expected, abs=1e-9)
        assert metric(client, "agnews_feedback_total", model_version=version, correct="true") == right_before + right
        assert metric(client, "agnews_feedback_total", model_version=version, correct="false") == (
            wrong_before + 200 - right
        )


def test_feedback_errors_and_replacement(stack: Any) -> None:
    with stack.client() as client:
        answer = classify(client, [SPORTS])
        pred = answer["predictions"][0]
        version = answer["model_version"]

        unknown = client.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "Sports"})
        assert unknown.status_code == 404
        assert unknown.json()["detail"].startswith(f"no prediction {'0' * 32!r}")
        bad = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": "Weather"})
        assert bad.status_code == 422
        assert "expected one of World, Sports, Business, Sci/Tech" in bad.json()["detail"]
        hostile = client.post("/v1/feedback", json={"prediction_id": "../../etc", "label": "Sports"})
        assert hostile.status_code == 422

        wrong = next(name for name in LABEL_NAMES if name != pred["label"])
        n0, correct0 = window_of(client, version)
        first = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": wrong})
        assert first.status_code == 200 and first.json()["replaced"] is False and first.json()["correct"] is False
        assert window_of(client, version) == (n0 + 1, correct0)
        second = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": pred["label"]})
        assert second.status_code == 200 and second.json()["replaced"] is True and second.json()["correct"] is True
        assert window_of(client, version) == (n0 + 1, correct0 + 1)  # replaced, not added
