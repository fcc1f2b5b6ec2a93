"""Serving from a real S3 API server, /metrics through promtool, and the agnews-inference command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, wait_ready


def test_serves_a_champion_from_s3(s3_server, s3_bucket, make_registry_with_champion, make_settings, served) -> None:
    uri = f"s3://{s3_bucket}/registry"
    _, version = make_registry_with_champion("transformers", uri=uri, s3_endpoint_url=s3_server.endpoint_url)
    settings = make_settings(uri, s3_endpoint_url=s3_server.endpoint_url, s3_region="us-east-1")
    with served(settings) as url:
        resp = httpx.post(f"{url}/v1/classify", json={"texts": ["Shares rose on Wall Street"]})
        assert resp.status_code == 200
        assert resp.json()["model_version"] == version
    assert (settings.cache_dir / "models" / version / "config.json").is_file()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed")
def test_metrics_follow_the_contract_and_pass_promtool(make_registry_with_champion, make_settings, served) -> None:
    registry, version = make_registry_with_champion("tfidf")
    with served(make_settings(registry.uri)) as url:
        httpx.post(f"{url}/v1/classify", json={"texts": ["Federer wins Wimbledon", "Stocks fall", "New chip"]})
        httpx.post(f"{url}/v1/classify", json={"texts": []})
        text = httpx.get(f"{url}/metrics").text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (check.stdout + check.stderr).strip() == ""
    for line in (
        f'agnews_model_info{{kind="tfidf",version="{version}"}} 1.0',
        "agnews_inference_ready 1.0",
        "agnews_inference_queue_depth 0.0",
        "agnews_inference_batch_size_bucket{le=",
        'agnews_predictions_total{label="Sports"} 1.0',
        'agnews_http_requests_total{method="POST",route="/v1/classify",service="inference",status="200"} 1.0',
        'agnews_http_requests_total{method="POST",route="/v1/classify",service="inference",status="422"} 1.0',
        'agnews_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/classify",service="inference"}',
    ):
        assert line in text, line


def test_agnews_inference_command_serves(make_registry_with_champion, tmp_path: Path) -> None:
    registry, version = make_registry_with_champion("tfidf")
    port = free_port()
    env = os.environ | {"INFERENCE_REGISTRY_URI": registry.uri, "INFERENCE_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [str(Path(sys.executable).parent / "agnews-inference"), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=60)
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"articles": [{"title": "Oil climbs"}]})
        assert resp.json()["model_version"] == version
    finally:
        proc.terminate()
        assert proc.wait(20) in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown


def test_agnews_inference_command_says_which_setting_is_wrong(tmp_path: Path) -> None:
    env = os.environ | {"INFERENCE_MAX_BATCH_SIZE": "0"}
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "agnews-inference")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "INFERENCE_MAX_BATCH_SIZE" in proc.stderr
    assert time.monotonic() - started < 60
