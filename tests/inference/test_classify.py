"""POST /v1/classify round trips on both model kinds, over real HTTP."""

from __future__ import annotations

import math

import httpx
import pytest
from agnews_core import labels
from conftest import serve  # at import time: another folder's conftest may hold the name when tests run

SPORTS = "Federer beats Roddick to win his fifth Wimbledon title in a five-set final on Sunday."
ARTICLE = {"title": "Oil prices climb", "description": "Crude rose 3% on Tuesday as OPEC supply fears grew."}


@pytest.mark.parametrize("kind", ["tfidf", "transformers"])
def test_classify_both_kinds(kind, make_registry_with_champion, make_settings, served) -> None:
    registry, version = make_registry_with_champion(kind)
    with served(make_settings(registry.uri)) as url:
        texts = [SPORTS, "Stocks fell sharply as the central bank raised rates.", "NASA launches a probe"]
        empty = httpx.post(f"{url}/v1/classify", json={"texts": [*texts, ""]})  # a meaningless prediction: 422
        assert empty.status_code == 422 and "texts.3: empty once cleaned" in empty.json()["detail"]
        resp = httpx.post(f"{url}/v1/classify", json={"texts": texts})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["model_version"] == version
        assert len(body["predictions"]) == len(texts)
        for pred in body["predictions"]:
            assert list(pred["scores"]) == list(labels.LABEL_NAMES)
            assert math.isclose(sum(pred["scores"].values()), 1.0, abs_tol=1e-5)
            assert pred["label"] == max(pred["scores"], key=pred["scores"].get)
            assert pred["label_id"] == labels.label_id(pred["label"])

        # Input order: each item alone gets the same answer as in the batch.
        for text, pred in zip(texts, body["predictions"], strict=True):
            alone = httpx.post(f"{url}/v1/classify", json={"texts": [text]}).json()["predictions"][0]
            assert alone["label"] == pred["label"]
            for name in labels.LABEL_NAMES:
                assert alone["scores"][name] == pytest.approx(pred["scores"][name], abs=2e-3)

        # An article is its title + " " + description through the shared text function.
        as_article = httpx.post(f"{url}/v1/classify", json={"articles": [ARTICLE]}).json()["predictions"][0]
        as_text = httpx.post(
            f"{url}/v1/classify", json={"texts": [f"{ARTICLE['title']} {ARTICLE['description']}"]}
        ).json()["predictions"][0]
        assert as_article["label"] == as_text["label"]
        for name in labels.LABEL_NAMES:
            assert as_article["scores"][name] == pytest.approx(as_text["scores"][name], abs=1e-6)

        model = httpx.get(f"{url}/v1/model").json()
        assert model["model_version"] == version and model["kind"] == kind
        if kind == "transformers":
            assert model["backend"] == "onnx-int8"  # the default 'auto' runtime


def test_tfidf_model_gets_the_obvious_ones_right(make_registry_with_champion, make_settings, served) -> None:
    registry, _ = make_registry_with_champion("tfidf")
    with served(make_settings(registry.uri)) as url:
        resp = httpx.post(
            f"{url}/v1/classify",
            json={"texts": [SPORTS, "Microsoft releases a new version of Windows software for PCs"]},
        )
        assert [p["label"] for p in resp.json()["predictions"]] == ["Sports", "Sci/Tech"]
        assert [p["label_id"] for p in resp.json()["predictions"]] == [2, 4]


def test_classify_is_served_without_dependency_solving(make_registry_with_champion, make_settings) -> None:
    """The declared route's dependencies, overridden to fail, never run (agnews_core.http_edge.serve_bare):
    answers, limits and the request metrics are the handler's alone."""
    from agnews_inference.app import create_app
    from agnews_inference.deps import get_batcher, get_prediction_log, get_settings

    def never() -> None:
        raise AssertionError("the declared classify route ran")

    registry, version = make_registry_with_champion("tfidf")
    app = create_app(make_settings(registry.uri, max_items=2))
    # (not get_metrics: /metrics below needs it)
    app.dependency_overrides.update({d: never for d in (get_batcher, get_prediction_log, get_settings)})
    with serve(app) as url:
        ok = httpx.post(f"{url}/v1/classify", json={"texts": [SPORTS]})
        assert ok.status_code == 200 and ok.json()["model_version"] == version
        assert ok.json()["predictions"][0]["label"] == "Sports"
        too_many = httpx.post(f"{url}/v1/classify", json={"texts": ["a", "b", "c"]})
        assert too_many.status_code == 413 and "INFERENCE_MAX_ITEMS" in too_many.json()["detail"]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'route="/v1/classify",service="inference",status="200"' in metrics.replace('method="POST",', "")
