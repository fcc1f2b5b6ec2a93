"""Drift, the shadow challenger and retraining from feedback, on a stack of this module's own (its Redis
windows and logs hold only this module's traffic, so every expected figure is exact)."""

from __future__ import annotations

import csv
import json
import math
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from agnews_core.drift import length_histogram
from agnews_core.labels import LABEL_NAMES, label_name
from agnews_core.recordlog import days, read_day
from agnews_core.storage import LocalStore
from agnews_core.text import model_input
from monitoring_helpers import classify, labelled_rows, metric

pytestmark = pytest.mark.slow


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


def unknown_histogram(texts: list[str], train_texts: list[str]) -> dict[str, int]:
    """The unknown-word buckets of `texts` against the words seen twice in `train_texts`, written out here."""
    seen: Counter[str] = Counter()
    for text in train_texts:
        seen.update(re.findall(r"[^\W\d_]+", text.lower()))
    vocabulary = {word for word, n in seen.items() if n >= 2}
    edges = [(0.02, "<2%"), (0.05, "2%-5%"), (0.10, "5%-10%"), (0.20, "10%-20%"), (0.40, "20%-40%")]
    out: Counter[str] = Counter()
    for text in texts:
        found = re.findall(r"[^\W\d_]+", text.lower())
        share = sum(w not in vocabulary for w in found) / len(found) if found else None
        out["no words" if share is None else next((name for edge, name in edges if share < edge), "40%+")] += 1
    return dict(out)


def foreign_texts(n: int) -> list[str]:
    """A feed that switched language (Spanish news-like sentences): words the English training data never had."""
    words = [
        "el",
        "gobierno",
        "anunció",
        "hoy",
        "nuevas",
        "medidas",
        "económicas",
        "para",
        "la",
        "región",
        "mientras",
        "los",
        "mercados",
        "esperan",
        "señales",
        "del",
        "banco",
        "central",
        "sobre",
        "los",
        "tipos",
        "de",
        "interés",
        "y",
        "el",
        "empleo",
        "en",
        "las",
        "próximas",
        "semanas",
        "según",
        "fuentes",
        "oficiales",
        "del",
        "ministerio",
        "de",
        "hacienda",
        "que",
        "prefirieron",
        "mantener",
        "el",
        "anonimato",
    ]
    rng = random.Random(7)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(15, 40))).capitalize() for _ in range(n)]


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


def test_drifted_streams_push_each_drift_score_over_the_alert_threshold(own: Any) -> None:
    with open(own.data_dir / "train.csv", newline="") as fh:
        train = list(csv.DictReader(fh))
    trained = Counter(label_name(int(row["label"])) for row in train)
    trained_lengths = length_histogram(len(model_input(r["title"], r["description"])) for r in train)
    train_texts = [model_input(r["title"], r["description"]) for r in train]
    held_out = rows_of(own.data_dir / "test.csv")
    trained_unknown = unknown_histogram(held_out, train_texts)
    balanced = rows_of(own.data_dir / "test.csv", n_per_class=25)
    sports = rows_of(own.data_dir / "train.csv", only="Sports")[:800]
    # a feed that lost its descriptions (rows with no title left out: the gateway refuses empty texts)
    headlines = [h for h in (model_input(r["title"]) for r in train[:1500]) if h]
    predicted: Counter[str] = Counter()
    lengths: list[int] = []
    sent: list[str] = []

    def send(texts: list[str]) -> dict[str, Any]:
        for start in range(0, len(texts), 50):
            predicted.update(p["label"] for p in classify(client, texts[start : start + 50])["predictions"])
        lengths.extend(len(t) for t in texts)
        sent.extend(texts)
        live = {name: predicted.get(name, 0) for name in LABEL_NAMES}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the log thread counts within a few hundred ms
            summary: dict[str, Any] = client.get("/v1/monitoring").json()
            counted = (sum(summary[f"{s}_live"].values()) for s in ("input_length", "unknown_words"))
            if summary["label_mix_live"] == live and all(n == len(lengths) for n in counted):
                break
            time.sleep(0.2)
        assert summary["label_mix_live"] == live
        live_lengths = {k: v for k, v in length_histogram(lengths).items() if v}
        assert summary["input_length_live"] == live_lengths
        live_unknown = unknown_histogram(sent, train_texts)
        assert {k: v for k, v in summary["unknown_words_live"].items() if v} == live_unknown
        for signal, expected in (
            ("label_mix", js_bits(dict(predicted), dict(trained))),
            ("input_length", js_bits(live_lengths, trained_lengths)),
            ("unknown_words", js_bits(live_unknown, trained_unknown)),
        ):
            assert summary["drift"][signal] == pytest.approx(expected, abs=1e-9), signal
            assert metric(client, "agnews_drift_score", signal=signal) == pytest.approx(expected, abs=1e-9)
        return summary

    with own.client() as client:
        summary = client.get("/v1/monitoring").json()
        assert summary["label_mix_training"] == {name: trained.get(name, 0) for name in LABEL_NAMES}
        assert summary["input_length_training"] == trained_lengths
        assert {k: v for k, v in summary["unknown_words_training"].items() if v} == trained_unknown
        assert summary["drift"] == {"label_mix": None, "input_length": None, "unknown_words": None}  # no traffic
        # Ordinary news (every class alike) stays under AgnewsDataDrift's 0.2 on every signal ...
        drift = send(balanced)["drift"]
        assert max(drift.values()) < 0.2, drift
        # ... a stream of only Sports pushes the label mix over, not the length ...
        summary = send(sports)
        assert summary["drift"]["label_mix"] > 0.2 > summary["drift"]["input_length"], summary["drift"]
        assert summary["history"] and summary["history"][-1]["drift_label_mix"] is not None
        # ... and a feed of bare headlines pushes the input length over.
        summary = send(headlines)
        assert summary["drift"]["input_length"] > 0.2, summary["input_length_live"]
        assert summary["history"][-1]["drift_input_length"] is not None
        # A feed that switched language: of ordinary length, but with words training never had.
        before = summary["drift"]["unknown_words"]
        assert before < 0.2, summary["unknown_words_live"]
        summary = send(foreign_texts(2500))
        assert summary["drift"]["unknown_words"] > 0.2 > before, summary["unknown_words_live"]
        assert summary["history"][-1]["drift_unknown_words"] is not None


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
        assert client.post("/v1/models/%2E%2E/shadow", headers=own.admin_headers).status_code == 404
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


def test_feedback_rows_reach_a_training_runs_data_card(own: Any) -> None:
    fresh = {
        "Referee sends off two players as the derby ends in a draw": "Sports",
        "Chip maker unveils a processor for cheaper laptops": "Sci/Tech",
        "Central bank holds rates as inflation cools": "Business",
    }
    with own.client() as client:
        answer = classify(client, list(fresh))
        for pred, truth in zip(answer["predictions"], fresh.values(), strict=True):
            response = client.post("/v1/feedback", json={"prediction_id": pred["prediction_id"], "label": truth})
            assert response.status_code == 200, response.text
    ids = {p["prediction_id"] for p in answer["predictions"]}
    store = LocalStore(own.registry_uri)
    deadline = time.monotonic() + 20  # the gateway writes feedback in batches (GATEWAY_FEEDBACK_LOG_FLUSH_S)
    while not ids <= {r["prediction_id"] for day in days(store, "feedback") for r in read_day(store, "feedback", day)}:
        assert time.monotonic() < deadline, "feedback records not written to the store"
        time.sleep(0.5)

    version = own.train_champion("tfidf", "--with-feedback")
    card = json.loads(own.registry.read_file(version, "data_card.json"))
    provenance = card["feedback"]
    # Feedback on test-split texts (the other tests') is left out; these three are new, so they are in.
    assert provenance["rows"] == len(fresh)
    assert provenance["dates"] == [f"{datetime.now(UTC):%Y-%m-%d}"]
    assert provenance["per_class"] == {name: list(fresh.values()).count(name) for name in LABEL_NAMES}
    assert card["rows"]["train"] == 4000 + len(fresh)
