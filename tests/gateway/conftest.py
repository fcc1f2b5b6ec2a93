"""Gateway tests: the app in-process (TestClient runs its lifespan) on a real Redis started here."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from agnews_gateway.main import create_app
from agnews_gateway.settings import GatewaySettings
from fastapi.testclient import TestClient
from stack import free_port, wait_redis
from tests_gateway_helpers import ADMIN_KEY


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port (not the system one), flushed per test by `gateway_client`."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_redis(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def make_client(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a TestClient on a fresh gateway (inference: a closed port unless given)."""
    redis.Redis.from_url(redis_url).flushdb()
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "inference_url": f"http://127.0.0.1:{free_port()}",
            "registry_uri": str(tmp_path / "registry"),
            "admin_keys": ADMIN_KEY,
            "rate_limit_per_minute": 0,
            "inference_retries": 0,
        }
        client = TestClient(create_app(GatewaySettings(**(values | overrides))))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
