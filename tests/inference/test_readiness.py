"""/healthz and /readyz: alive at once, ready only once a champion is loaded."""

from __future__ import annotations

import time

import httpx
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from fixtures_models import publish_model


def test_ready_only_after_a_champion_is_loaded(tmp_path, tiny_tfidf_model_dir, make_settings, served) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    with served(make_settings(registry.uri), ready=False) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        resp = httpx.get(f"{url}/readyz")
        assert resp.status_code == 503
        assert "no champion" in resp.json()["detail"]
        resp = httpx.post(f"{url}/v1/classify", json={"texts": ["hello"]})
        assert resp.status_code == 503
        assert "no model loaded" in resp.json()["detail"]
        assert "agnews_inference_ready 0.0" in httpx.get(f"{url}/metrics").text

        version = publish_model(registry, tiny_tfidf_model_dir, "tfidf")
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "champion was never picked up"
            time.sleep(0.05)
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready", "model_version": version}
        assert httpx.post(f"{url}/v1/classify", json={"texts": ["hello"]}).json()["model_version"] == version


def test_broken_champion_is_reported_not_served(tmp_path, make_settings, served) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(
        '{"id2label": {"0": "Weather", "1": "Sports", "2": "Business", "3": "Sci/Tech"}}'
    )
    publish_model(registry, broken, "tfidf")
    with served(make_settings(registry.uri), ready=False) as url:
        deadline = time.monotonic() + 10
        while "Weather" not in (detail := httpx.get(f"{url}/readyz").json()["detail"]):
            assert time.monotonic() < deadline, detail
            time.sleep(0.05)
        assert "cannot be served" in detail
        assert httpx.get(f"{url}/readyz").status_code == 503
