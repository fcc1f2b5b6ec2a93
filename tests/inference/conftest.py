"""Inference test helpers: settings for a registry, a real uvicorn server on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from agnews_inference.app import create_app
from agnews_inference.settings import InferenceSettings
from fastapi import FastAPI
from stack import free_port

ADMIN_KEY = "test-admin-key"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., InferenceSettings]:
    def make(registry_uri: str, **overrides: Any) -> InferenceSettings:
        values: dict[str, Any] = {
            "registry_uri": registry_uri,
            "cache_dir": tmp_path / "inference-cache",
            "poll_interval_s": 0.2,
            "admin_keys": [ADMIN_KEY],
            "intra_op_threads": 1,
        }
        return InferenceSettings(**(values | overrides))

    return make


@contextmanager
def serve(app: FastAPI, ready: bool = True, timeout: float = 60.0) -> Iterator[str]:
    """Run `app` under a real uvicorn server in a thread; yields its base URL (waits for /readyz if asked)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        if ready:
            wait_ready(url, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"{url}/readyz")
        except httpx.TransportError:  # not listening yet
            last = None
        if last is not None and last.status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last.text if last else 'no answer'}")


@pytest.fixture
def served() -> Callable[..., Any]:
    """served(settings) -> context manager yielding the URL of a ready server built by create_app(settings)."""

    def start(settings: InferenceSettings, ready: bool = True) -> Any:
        return serve(create_app(settings), ready=ready)

    return start
