"""Start the whole agnews stack on free ports: for stack tests (pytest fixtures) and benchmark scripts.

    from stack import Stack
    with Stack.start(workdir) as stack:          # Redis, inference, batch + training workers, gateway
        stack.publish_champion("tfidf")           # or publish before start(): inference loads the champion
        httpx.post(f"{stack.gateway_url}/v1/classify", json={"texts": ["..."]})

Real processes everywhere: its own `redis-server` (with a password), `celery ... worker` subprocesses,
`agnews-inference` and `agnews-gateway` under uvicorn, each in its own process group, logging to
`<workdir>/logs/<name>.log`. The pytest fixture `stack` (tests/conftest.py, session scope) yields one with a
tfidf champion (trained by `agnews-train` on 300 rows of `data_dir`) already served.

Attributes of a running Stack:
    gateway_url     http://127.0.0.1:<port> of the gateway (the public API)
    inference_url   http://127.0.0.1:<port> of the inference service
    admin_key       Bearer key for the gateway's admin routes and inference's /v1/reload
    admin_headers   {"Authorization": "Bearer <admin_key>"}
    redis_url       redis://:<password>@127.0.0.1:<port>/0 (the stack's own Redis; tests may stop it)
    registry_uri    the local-folder model registry (str path); `registry` is a ModelRegistry on it
    workdir         root of everything the stack writes (registry/, artifacts, logs/, trainer/)
    data_dir        a small AG News folder (train.csv, test.csv) the training worker uses by default
Test-friendly defaults (override per component with gateway_env / batch_env / training_env / inference_env):
    batch worker GATEWAY_VISIBILITY_TIMEOUT_S=5, GATEWAY_JOB_LEASE_S=3 (a killed worker's job returns in
    seconds), GATEWAY_BATCH_CHUNK_SIZE=50, GATEWAY_BATCH_CHUNK_PAUSE_S=0.1 (jobs last long enough to watch);
    a benchmark wants batch_env={"GATEWAY_BATCH_CHUNK_PAUSE_S": "0", "GATEWAY_BATCH_CHUNK_SIZE": "256",
    "GATEWAY_VISIBILITY_TIMEOUT_S": "3600"}. Rate limit 100000/min.
The reaper (agnews-reaper) runs too, every second, its metrics on reaper_metrics_port.
Methods: publish_champion(kind), train_champion(preset, *flags), wait_for_champion(version), stop_redis()/start_redis(),
    kill(name)/start_worker(name) for "batch" and "training", start_reaper(), logs(name), stop().
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_DATA = (REPO.parent / "shared" / "data" / "agnews").resolve()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_redis(url: str, tries: int = 100) -> None:
    """Until a just-started redis-server answers PING (5 s at most; the next call says why if it never does)."""
    import redis

    for _ in range(tries):
        try:
            redis.Redis.from_url(url).ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Until `url` answers 200 (raises with the log's tail when the process died or time ran out)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}\n{_tail(log)}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s: {last}\n{_tail(log)}")


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def write_small_agnews(dest: Path, n_train: int = 4000, n_test: int = 800) -> Path:
    """A small AG News folder (train.csv/test.csv, the Kaggle columns) cut from the shared copy."""
    dest.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        with open(SHARED_DATA / f"{split}.csv", newline="") as src, open(dest / f"{split}.csv", "w", newline="") as out:
            reader = csv.reader(src)
            writer = csv.writer(out)
            for i, row in enumerate(reader):
                if i > n:
                    break
                writer.writerow(row)
    return dest


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120.0, until: tuple[str, ...] = ()) -> dict[str, Any]:
    """Poll a job (through the gateway) until it finished or reached one of `until`; returns its last JSON."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}")
        if response.status_code == 200:
            job = response.json()
            if job["state"] in (until or ("succeeded", "failed", "cancelled")):
                return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} still {job.get('state')} after {timeout}s: {job}")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Stack:
    workdir: Path
    admin_key: str = field(default_factory=lambda: "admin-" + secrets.token_hex(8))
    redis_password: str = field(default_factory=lambda: secrets.token_hex(8))
    redis_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    inference_port: int = field(default_factory=free_port)
    batch_metrics_port: int = field(default_factory=free_port)
    training_metrics_port: int = field(default_factory=free_port)
    reaper_metrics_port: int = field(default_factory=free_port)
    gateway_env: dict[str, str] = field(default_factory=dict)
    batch_env: dict[str, str] = field(default_factory=dict)
    training_env: dict[str, str] = field(default_factory=dict)
    inference_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    # -- addresses ----------------------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0"

    @property
    def registry_uri(self) -> str:
        return str(self.workdir / "registry")

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def registry(self) -> Any:
        from agnews_core.registry import ModelRegistry
        from agnews_core.storage import LocalStore

        return ModelRegistry(LocalStore(self.registry_uri))

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.gateway_url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def logs(self, name: str) -> str:
        return _tail(self.workdir / "logs" / f"{name}.log", 200)

    # -- environment per process --------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS="1",
        )
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _gateway_settings_env(self) -> dict[str, str]:
        return {
            "GATEWAY_REDIS_URL": self.redis_url,
            "GATEWAY_INFERENCE_URL": self.inference_url,
            "GATEWAY_REGISTRY_URI": self.registry_uri,
            "GATEWAY_ADMIN_KEYS": self.admin_key,
            "GATEWAY_INFERENCE_ADMIN_KEY": self.admin_key,
            "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000",
            "GATEWAY_WORKER_METRICS_PORT": str(self.batch_metrics_port),
            "GATEWAY_JOB_LEASE_S": "3",
            "GATEWAY_VISIBILITY_TIMEOUT_S": "5",
            "GATEWAY_BATCH_CHUNK_SIZE": "50",
            "GATEWAY_BATCH_CHUNK_PAUSE_S": "0.1",
            "GATEWAY_REAPER_INTERVAL_S": "1",
            "GATEWAY_RETENTION_INTERVAL_S": "2",
            "GATEWAY_QUEUED_GRACE_S": "3",
            "GATEWAY_REAPER_METRICS_PORT": str(self.reaper_metrics_port),
        }

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - the child owns it
        popen = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self._base_env() | env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        fh.close()
        proc = Proc(name, popen, log)
        self.procs[name] = proc
        return proc

    # -- components ---------------------------------------------------------------------------------------
    def start_redis(self, timeout: float = 10.0) -> None:
        (self.workdir / "redis").mkdir(parents=True, exist_ok=True)
        proc = self._spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                self.redis_password,
                "--save",
                "",
                # persisted like the chart's Redis, so a stopped and restarted Redis keeps jobs and messages
                "--appendonly",
                "yes",
                "--dir",
                str(self.workdir / "redis"),
            ],
            {},
        )
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis.from_url(self.redis_url, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start\n{_tail(proc.log)}") from None
                time.sleep(0.05)

    def stop_redis(self) -> None:
        self.procs["redis"].stop()

    def start_inference(
        self, timeout: float = 120.0, wait_ready: bool = True, name: str = "inference", port: int | None = None
    ) -> None:
        """The inference service (another `name` on another `port`: a second, fresh process)."""
        port = port or self.inference_port
        env = {
            "INFERENCE_REGISTRY_URI": self.registry_uri,
            "INFERENCE_ADMIN_KEYS": self.admin_key,
            "INFERENCE_POLL_INTERVAL_S": "0.5",
            "INFERENCE_CACHE_DIR": str(self.workdir / "inference-cache"),
            "INFERENCE_INTRA_OP_THREADS": "1",
            "INFERENCE_REDIS_URL": self.redis_url,
            "INFERENCE_PREDICTION_LOG_FLUSH_S": "0.5",
        } | self.inference_env
        proc = self._spawn(
            name,
            [
                str(BIN / "agnews-inference"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env,
        )
        url = f"http://127.0.0.1:{port}/{'readyz' if wait_ready else 'healthz'}"
        wait_http(url, timeout, proc.popen, proc.log)

    def start_worker(self, name: str, timeout: float = 60.0) -> None:
        """Start the "batch" or "training" Celery worker and wait until it consumes."""
        if name == "batch":
            app, queue, conc = "agnews_gateway.worker:celery_app", "batch", "2"
            env = self._gateway_settings_env() | self.gateway_env | self.batch_env
        else:
            app, queue, conc = "agnews_trainer.worker:celery_app", "training", "1"
            env = {
                "TRAINER_REDIS_URL": self.redis_url,
                "TRAINER_REGISTRY_URI": self.registry_uri,
                "TRAINER_DATA": str(self.data_dir),
                "TRAINER_WORK_DIR": str(self.workdir / "trainer"),
                "TRAINER_METRICS_PORT": str(self.training_metrics_port),
                "TRAINER_JOB_LEASE_S": "5",
            } | self.training_env
        hostname = f"{name}-{secrets.token_hex(3)}@%h"
        proc = self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                app,
                "worker",
                "-Q",
                queue,
                "-c",
                conc,
                "-n",
                hostname,
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            env,
        )
        deadline = time.monotonic() + timeout
        while "ready." not in proc.log.read_text(errors="replace"):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} worker did not start\n{_tail(proc.log)}")
            time.sleep(0.1)

    def start_reaper(self, timeout: float = 30.0) -> None:
        """The reaper (expired leases, retention), checking every second (retention every 2 s)."""
        env = self._gateway_settings_env() | self.gateway_env
        proc = self._spawn("reaper", [str(BIN / "agnews-reaper")], env)
        wait_http(f"http://127.0.0.1:{self.reaper_metrics_port}/metrics", timeout, proc.popen, proc.log)

    def kill(self, name: str) -> None:
        """SIGKILL a component's whole process group (no warm shutdown: messages stay unacknowledged)."""
        proc = self.procs[name]
        proc.signal(signal.SIGKILL)
        proc.popen.wait(10)

    def start_gateway(self, timeout: float = 60.0) -> None:
        env = self._gateway_settings_env() | self.gateway_env
        proc = self._spawn(
            "gateway",
            [
                str(BIN / "agnews-gateway"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.gateway_port),
                "--log-level",
                "warning",
            ],
            env,
        )
        wait_http(f"{self.gateway_url}/healthz", timeout, proc.popen, proc.log)

    # -- models -------------------------------------------------------------------------------------------
    def publish_champion(self, kind: str = "tfidf", model_dir: Path | None = None) -> str:
        """Publish a tiny test model of `kind` and promote it; returns its version."""
        sys.path.insert(0, str(Path(__file__).parent))
        from fixtures_models import build_tiny_tfidf, build_tiny_transformer, publish_model

        if model_dir is None:
            model_dir = self.workdir / f"models/{kind}"
            if not model_dir.is_dir():
                (build_tiny_tfidf if kind == "tfidf" else build_tiny_transformer)(model_dir)
        return publish_model(self.registry, model_dir, kind)  # type: ignore[arg-type]

    def train_champion(self, preset: str = "tfidf", *extra: str, timeout: float = 300.0) -> str:
        """`agnews-train run` into the stack's registry (what `make run` does first); returns the version."""
        import json

        log = self.workdir / "logs" / "train-cli.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            out = subprocess.run(
                [
                    str(BIN / "agnews-train"),
                    "run",
                    "--preset",
                    preset,
                    "--data",
                    str(self.data_dir),
                    "--registry",
                    self.registry_uri,
                    "--work-dir",
                    str(self.workdir / "trainer"),
                    *extra,
                ],
                cwd=self.workdir,
                env=self._base_env(),
                stdout=subprocess.PIPE,
                stderr=fh,
                timeout=timeout,
                check=False,
            )
        if out.returncode != 0:
            raise RuntimeError(f"agnews-train failed ({out.returncode})\n{_tail(log)}")
        return str(json.loads(out.stdout.decode().strip().splitlines()[-1])["version"])

    def wait_for_champion(self, version: str, timeout: float = 60.0) -> None:
        """Until the inference service answers with `version`."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            response = httpx.post(f"{self.inference_url}/v1/classify", json={"texts": ["stocks rally"]}, timeout=10)
            if response.status_code == 200:
                seen = response.json()["model_version"]
                if seen == version:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"inference still serves {seen}, not {version}")

    # -- lifecycle ----------------------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def start(
        cls, workdir: Path, *, champion: str | None = "tfidf", training: bool = True, **kwargs: Any
    ) -> Iterator[Stack]:
        stack = cls(workdir=Path(workdir), **kwargs)
        stack.workdir.mkdir(parents=True, exist_ok=True)
        try:
            write_small_agnews(stack.data_dir)
            stack.start_redis()
            if champion == "train" and stack.registry.champion() is None:
                # a real tfidf champion on few rows: a later training job on all rows beats it
                stack.train_champion("tfidf", "--max-train-samples", "300")
            elif champion and stack.registry.champion() is None:
                stack.publish_champion(champion)
            stack.start_inference(wait_ready=stack.registry.champion() is not None)
            stack.start_worker("batch")
            if training:
                stack.start_worker("training")
            stack.start_gateway()
            stack.start_reaper()
            yield stack
        finally:
            stack.stop()

    def stop(self) -> None:
        order = ("reaper", "gateway", "batch", "training", "inference", "redis")
        for name in [n for n in self.procs if n not in order] + list(order):
            if name in self.procs:
                self.procs[name].stop()
