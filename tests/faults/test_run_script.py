"""`make run` (scripts/run.sh) when one of its processes dies: it says which, stops all of them, frees its ports."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from faults_helpers import report, until
from stack import REPO, free_port

pytestmark = pytest.mark.faults


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _sessions_alive(sids: list[int]) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if int(line.split()[1]) in sids]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    proc = subprocess.Popen([*argv, "--save", "", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    until(lambda: _ping(url), 10, "redis")
    yield url
    proc.terminate()
    proc.wait(10)


def _ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.RedisError:
        return False


def test_one_process_dying_stops_the_whole_stack(tmp_path: Path, own_redis: str) -> None:
    from agnews_core.registry import ModelRegistry
    from agnews_core.storage import LocalStore
    from fixtures_models import build_tiny_tfidf, publish_model

    registry = tmp_path / "registry"
    publish_model(ModelRegistry(LocalStore(registry)), build_tiny_tfidf(tmp_path / "tfidf", n_rows=400), "tfidf")
    ports = {name: free_port() for name in ("GATEWAY_PORT", "INFERENCE_PORT", "TRAINER_METRICS_PORT")}
    ports |= {name: free_port() for name in ("GATEWAY_WORKER_METRICS_PORT", "GATEWAY_REAPER_METRICS_PORT")}
    frontend = free_port()
    env = dict(os.environ) | {k: str(v) for k, v in ports.items()}
    env |= {
        "VENV": str(Path(sys.executable).parent.parent),
        "REGISTRY": str(registry),
        "TRAIN": "none",
        "RUN_DIR": str(tmp_path / "run"),
        "REDIS_URL": own_redis,
        "FRONTEND_LISTEN": f"127.0.0.1:{frontend}",
        "INFERENCE_INTRA_OP_THREADS": "1",
    }
    out = tmp_path / "run.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run.sh")],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        until(lambda: "agnews is running" in out.read_text() or proc.poll() is not None, 240, "make run up")
        text = out.read_text()
        assert proc.poll() is None, text
        started = {m[0]: int(m[1]) for m in re.findall(r"\[run\] (\S+) started \(pid (\d+)", text)}
        assert {"training", "batch", "reaper", "inference", "gateway"} <= set(started), text
        os.kill(started["batch"], signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(90)
        took = time.monotonic() - killed
        text = out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    assert proc.returncode == 1, text
    assert f"batch (pid {started['batch']}) exited" in text and "stopping the whole stack" in text, text
    assert "stopped; ports free" in text, text
    assert not _sessions_alive(list(started.values())), _sessions_alive(list(started.values()))
    taken = [p for p in [*ports.values(), frontend] if not _port_free(p)]
    assert not taken, taken
    report("run.sh after a SIGKILLed batch worker", took, processes=len(started))
