"""Following the champion: POST /v1/reload (admin) and polling, with zero failed requests during a swap."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
from conftest import ADMIN_KEY
from fixtures_models import publish_model


def test_reload_needs_the_admin_key(make_registry_with_champion, make_settings, served) -> None:
    registry, _ = make_registry_with_champion("tfidf")
    with served(make_settings(registry.uri, poll_interval_s=0)) as url:
        resp = httpx.post(f"{url}/v1/reload")
        assert resp.status_code == 401
        assert "Bearer" in resp.json()["detail"]
        resp = httpx.post(f"{url}/v1/reload", headers={"Authorization": "Bearer nope"})
        assert resp.status_code == 403
        assert resp.json()["detail"] == "this API key is not an admin key"


def test_reload_switches_to_a_new_champion(
    make_registry_with_champion, tiny_tfidf_model_dir, make_settings, served
) -> None:
    registry, first = make_registry_with_champion("transformers")
    with served(make_settings(registry.uri, poll_interval_s=0)) as url:
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert httpx.post(f"{url}/v1/reload", headers=auth).json() == {
            "model_version": first,
            "previous_version": first,
            "changed": False,
        }
        second = publish_model(registry, tiny_tfidf_model_dir, "tfidf")
        resp = httpx.post(f"{url}/v1/reload", headers=auth, timeout=60)
        assert resp.json() == {"model_version": second, "previous_version": first, "changed": True}
        assert httpx.post(f"{url}/v1/classify", json={"texts": ["x"]}).json()["model_version"] == second
        metrics = httpx.get(f"{url}/metrics").text
        assert f'agnews_model_info{{kind="tfidf",version="{second}"}} 1.0' in metrics
        assert first not in metrics  # one model_info series: the model now served


def test_hot_swap_under_load_fails_no_request(
    make_registry_with_champion, tiny_transformer_model_dir, make_settings, served
) -> None:
    registry, first = make_registry_with_champion("transformers")
    with served(make_settings(registry.uri, poll_interval_s=0.1)) as url:
        stop = threading.Event()
        statuses: Counter[int] = Counter()
        versions: list[str] = []
        lock = threading.Lock()

        def hammer(i: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    resp = client.post(
                        "/v1/classify", json={"texts": [f"request {i} about stocks and sports"] * (i + 1)}
                    )
                    with lock:
                        statuses[resp.status_code] += 1
                        if resp.status_code == 200:
                            versions.append(resp.json()["model_version"])

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        second = publish_model(registry, tiny_transformer_model_dir, "transformers")  # polled, not reloaded
        deadline = time.monotonic() + 30
        while second not in versions[-5:]:
            assert time.monotonic() < deadline, "the new champion was never served"
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(30)
        assert set(statuses) == {200}, statuses
        assert versions[0] == first and versions[-1] == second
        assert set(versions) == {first, second}
        assert sum(statuses.values()) > 20
