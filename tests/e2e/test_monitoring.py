"""Monitoring on the real stack: prediction ids, the prediction log on the store, feedback and live accuracy.

The session `stack` (tests/stack.py): real Redis, inference writing its prediction log (flushed every 0.5 s)
into the stack's registry folder and its feedback index into Redis, and the gateway joining feedback to it.
Other tests may send feedback to the same stack, so expectations are computed from the window's state before
this test's feedback plus what this test sends: still exact, and still computed here.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from agnews_core.labels import LABEL_NAMES, label_name
from agnews_core.text import model_input

pytestmark = pytest.mark.slow

SPORTS = "Yankees beat Red Sox in extra innings as Jeter singles home the winning run"


def labelled_rows(stack: Any, n: int) -> list[tuple[str, str]]:
    """(model input, true class name) for n rows of the stack's own test split."""
    out = []
    with open(stack.data_dir / "test.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out.append((model_input(row["title"], row["description"]), label_name(int(row["label"]))))
            if len(out) == n:
                break
    assert len(out) == n
    return out


def classify(client: httpx.Client, texts: list[str]) -> dict[str, Any]:
    response = client.post("/v1/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def window_of(client: httpx.Client, version: str) -> tuple[int, int]:
    summary = client.get("/v1/monitoring").json()
    for row in summary["live_accuracy"]:
        if row["model_version"] == version:
            return row["n"], row["correct"]
    return 0, 0


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    """One sample of a /metrics page (gateway or inference client), or None when absent."""
    text = client.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


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


# ---------- drift and shadow, on a stack of this module's own (its Redis windows hold only this traffic) ----------


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A stack whose champion is a real tfidf model on 3000 rows (good enough that Sports texts come out Sports)."""
    from stack import Stack

    with Stack.start(tmp_path_factory.mktemp("monitoring-stack"), champion=None, training=False) as running:
        version = running.train_champion("tfidf", "--max-train-samples", "3000")
        deadline = time.monotonic() + 60
        # GET /v1/model, not a classify call: this stack's label mix must hold only the tests' traffic.
        while httpx.get(f"{running.inference_url}/v1/model").json().get("model_version") != version:
            assert time.monotonic() < deadline, "inference did not load the trained champion"
            time.sleep(0.3)
        yield running


def js_bits(p: dict[str, float], q: dict[str, float]) -> float:
    """Jensen-Shannon divergence in bits, written out here rather than imported from the code under test."""
    sp, sq = sum(p.values()), sum(q.values())
    out = 0.0
    for k in set(p) | set(q):
        a, b = p.get(k, 0) / sp, q.get(k, 0) / sq
        m = (a + b) / 2
        out += 0.5 * (a * math.log2(a / m) if a else 0.0) + 0.5 * (b * math.log2(b / m) if b else 0.0)
    return out


def rows_of(path: Path, n_per_class: int | None = None, only: str | None = None) -> list[str]:
    """Model inputs from an AG News CSV: n per class (balanced), or every row of one class."""
    taken: Counter[str] = Counter()
    out = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = label_name(int(row["label"]))
            if (only and name != only) or (n_per_class and taken[name] >= n_per_class):
                continue
            taken[name] += 1
            out.append(model_input(row["title"], row["description"]))
    return out


def test_a_stream_of_only_sports_pushes_label_mix_drift_over_the_alert_threshold(own: Any) -> None:
    with open(own.data_dir / "train.csv", newline="") as fh:
        trained = Counter(label_name(int(row["label"])) for row in csv.DictReader(fh))
    balanced = rows_of(own.data_dir / "test.csv", n_per_class=25)
    sports = rows_of(own.data_dir / "train.csv", only="Sports")[:800]
    predicted: Counter[str] = Counter()

    def send(texts: list[str]) -> dict[str, Any]:
        for start in range(0, len(texts), 50):
            predicted.update(p["label"] for p in classify(client, texts[start : start + 50])["predictions"])
        expected = js_bits(dict(predicted), dict(trained))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the log thread counts labels within a few hundred ms
            summary: dict[str, Any] = client.get("/v1/monitoring").json()
            if summary["label_mix_live"] == {name: predicted.get(name, 0) for name in LABEL_NAMES}:
                break
            time.sleep(0.2)
        assert summary["label_mix_live"] == {name: predicted.get(name, 0) for name in LABEL_NAMES}
        assert summary["drift"]["label_mix"] == pytest.approx(expected, abs=1e-9)
        assert metric(client, "agnews_drift_score", signal="label_mix") == pytest.approx(expected, abs=1e-9)
        return summary

    with own.client() as client:
        summary = client.get("/v1/monitoring").json()
        assert summary["label_mix_training"] == {name: trained.get(name, 0) for name in LABEL_NAMES}
        assert summary["drift"]["label_mix"] is None  # no traffic yet
        # Ordinary news (every class alike) stays under AgnewsLabelMixDrift's 0.2 ...
        assert send(balanced)["drift"]["label_mix"] < 0.2
        # ... and a stream of only Sports pushes it over.
        summary = send(sports)
        assert summary["drift"]["label_mix"] > 0.2, summary["label_mix_live"]
        assert summary["history"] and summary["history"][-1]["drift_label_mix"] is not None


def shadow_counts(inference: httpx.Client, champion: str, shadow: str) -> tuple[float, float]:
    """(agreeing, disagreeing) shadow predictions on inference's /metrics; (0, 0) before the first."""
    name, pair = "agnews_shadow_predictions_total", {"champion": champion, "shadow": shadow}
    return metric(inference, name, **pair, agree="true") or 0.0, metric(inference, name, **pair, agree="false") or 0.0


def test_shadow_scores_traffic_without_changing_the_champions_answers(own: Any) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fixtures_models import build_tiny_tfidf, publish_model

    challenger = publish_model(own.registry, build_tiny_tfidf(own.workdir / "challenger"), "tfidf", promote=False)
    rows = labelled_rows(own, 120)[20:]
    texts = [text for text, _ in rows]
    with own.client() as client, httpx.Client(base_url=own.inference_url, timeout=30) as inference:
        champion = client.get("/v1/models").json()["champion"]
        baseline = classify(client, texts)
        assert client.post(f"/v1/models/{challenger}/shadow", json={"share": 1.0}).status_code == 401
        assert client.post(f"/v1/models/{champion}/shadow", headers=own.admin_headers).status_code == 409
        assert client.post("/v1/models/v-nope/shadow", headers=own.admin_headers).status_code == 404
        on = client.post(f"/v1/models/{challenger}/shadow", headers=own.admin_headers, json={"share": 1.0})
        assert on.status_code == 200, on.text
        deadline = time.monotonic() + 60
        while sum(shadow_counts(inference, champion, challenger)) == 0:
            assert time.monotonic() < deadline, "inference never loaded the shadow version"
            classify(client, ["warm-up while the shadow loads"])
            time.sleep(0.3)
        scored_before = client.get("/v1/models/shadow").json()["scored"]

        shadowed = classify(client, texts)
        assert shadowed["model_version"] == baseline["model_version"] == champion
        strip = [{k: v for k, v in p.items() if k != "prediction_id"} for p in shadowed["predictions"]]
        assert strip == [{k: v for k, v in p.items() if k != "prediction_id"} for p in baseline["predictions"]]

        deadline = time.monotonic() + 30
        while (view := client.get("/v1/models/shadow").json())["scored"] < scored_before + len(texts):
            assert time.monotonic() < deadline, view
            time.sleep(0.2)
        agree, disagree = shadow_counts(inference, champion, challenger)
        assert agree + disagree == view["scored"]
        assert view["agreement"] == pytest.approx(agree / (agree + disagree))
        assert metric(inference, "agnews_shadow_agreement", champion=champion, shadow=challenger) == pytest.approx(
            view["agreement"]
        )

        # Feedback on the shadowed predictions counts for both versions: live accuracy side by side.
        before = {r["model_version"]: r["n"] for r in client.get("/v1/monitoring").json()["live_accuracy"]}
        right = 0
        for pred, (_, truth) in zip(shadowed["predictions"], rows, strict=True):
            response = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": truth})
            assert response.status_code == 200, response.text
            right += pred["label"] == truth
        after = {r["model_version"]: r for r in client.get("/v1/monitoring").json()["live_accuracy"]}
        assert after[champion]["n"] == before.get(champion, 0) + len(texts)
        assert after[challenger]["n"] == before.get(challenger, 0) + len(texts)
        assert after[champion]["correct"] >= right  # this test's share of the window

        assert client.delete(f"/v1/models/{challenger}/shadow", headers=own.admin_headers).status_code == 204
        assert client.get("/v1/models/shadow").json() is None
        assert client.delete(f"/v1/models/{challenger}/shadow", headers=own.admin_headers).status_code == 404
