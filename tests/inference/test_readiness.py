"""/healthz and /readyz: alive at once, ready only once a champion is loaded."""

from __future__ import annotations

import subprocess
import sys
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


def test_champion_and_shadow_load_side_by_side_in_a_fresh_process(tmp_path, tiny_transformer_model_dir) -> None:
    """Inference starting with a shadow set loads two versions from two threads while transformers is not yet
    imported; its lazy module then raised ImportError in one of them (and the shadow was written off)."""
    registry = ModelRegistry(LocalStore(tmp_path / "registry"))
    versions = [publish_model(registry, tiny_transformer_model_dir, "transformers", promote=False) for _ in range(3)]
    script = f"""
import sys, threading
from agnews_core.registry import ModelRegistry
from agnews_core.storage import LocalStore
from agnews_inference.loader import load_model
from agnews_inference.settings import InferenceSettings
assert "transformers" not in sys.modules
registry = ModelRegistry(LocalStore({str(tmp_path / "registry")!r}))
settings = InferenceSettings(registry_uri=registry.uri, cache_dir={str(tmp_path / "cache")!r}, intra_op_threads=1)
errors, loaded = [], []
def load(version):
    try:
        loaded.append(load_model(registry, version, settings).version)
    except BaseException as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load, args=(v,)) for v in {versions!r}]
for t in threads: t.start()
for t in threads: t.join()
print("errors", errors)
sys.exit(1 if errors or len(loaded) != {len(versions)} else 0)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
