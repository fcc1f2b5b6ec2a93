"""The agnews stack from its own images, for the smoke suite: build (cached), seed, `compose up`, tear down.

    with ImageStack.start(workdir) as stack:     # scripts/images-build.sh, then scripts/images-stack.sh up
        httpx.post(f"{stack.frontend_url}/api/v1/classify", json={"texts": ["..."]})

Everything goes through the repo's own scripts and compose.yaml, as a user would run them: the images are
built by scripts/images-build.sh (layer-cached), the stack starts with scripts/images-stack.sh on a user
network of the engine with service names, the registry on a named volume seeded with a tfidf champion
trained by the trainer image on 300 rows of a small AG News folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from stack import free_port, write_small_agnews  # noqa: E402

REPORT = REPO / "build" / "images"
SKIP_ENV = "AGNEWS_SKIP_IMAGES"


def engine() -> str:
    """podman or docker, whichever runs here; fails loudly (never skips) when none does."""
    out = subprocess.run(
        ["bash", str(REPO / "scripts/images-engine.sh"), os.environ.get("IMAGE_ENGINE", "auto")],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"{out.stderr.strip()}\nThe image smoke suite cannot run without a container engine. Install one "
            f"(scripts/images-tools.sh) or opt out explicitly with {SKIP_ENV}=1 (make test then says so)."
        )
    return out.stdout.strip()


def image_tag() -> str:
    if os.environ.get("IMAGE_TAG"):
        return os.environ["IMAGE_TAG"]
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "dev"


@dataclass
class ImageStack:
    workdir: Path
    engine: str = field(default_factory=engine)
    tag: str = field(default_factory=image_tag)
    prefix: str = field(default_factory=lambda: os.environ.get("IMAGE_PREFIX", "localhost/"))
    project: str = field(default_factory=lambda: "agnews-smoke-" + secrets.token_hex(3))
    gateway_port: int = field(default_factory=free_port)
    frontend_port: int = field(default_factory=free_port)
    ready_s: float = 0.0
    seed_and_up_s: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)
    build_s: dict[str, int] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    def image(self, name: str) -> str:
        """The built image of gateway, inference, frontend, redis or trainer-cpu."""
        if name == "trainer-cpu":
            return f"{self.prefix}agnews-trainer:{self.tag}-cpu"
        return f"{self.prefix}agnews-{name}:{self.tag}"

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            IMAGE_ENGINE=self.engine,
            IMAGE_TAG=self.tag,
            IMAGE_PREFIX=self.prefix,
            AGNEWS_TAG=self.tag,
            AGNEWS_IMAGE_PREFIX=self.prefix,
            AGNEWS_PROJECT=self.project,
            AGNEWS_GATEWAY_PORT=str(self.gateway_port),
            AGNEWS_FRONTEND_PORT=str(self.frontend_port),
            AGNEWS_DATA_DIR=str(self.workdir / "data"),
            AGNEWS_TRAINER_DATA="/data",
            AGNEWS_SEED_ARGS="--max-train-samples 300",
        )

    @property
    def admin_key(self) -> str:
        text = (REPO / ".run" / "images" / f"{self.project}.env").read_text()
        match = re.search(r"^AGNEWS_ADMIN_KEY=(.+)$", text, re.M)
        assert match, "no admin key in the stack's env file"
        return match.group(1)

    def run(self, *argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([self.engine, *argv], capture_output=True, text=True, timeout=timeout, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"{self.engine} {' '.join(argv)} -> {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out

    def _script(self, *argv: str, timeout: float) -> str:
        out = subprocess.run(
            ["bash", *argv], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} -> {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}")
        return out.stdout

    def build(self) -> None:
        self._script("scripts/images-build.sh", timeout=3600)
        for line in (REPORT / "report.tsv").read_text().splitlines():
            image, size, seconds = line.split("\t")
            self.sizes[image] = int(size)
            self.build_s[image] = int(seconds)

    def containers(self) -> dict[str, str]:
        """service name -> container name, for this project's running containers."""
        out = self.run(
            "ps", "--filter", f"label=io.podman.compose.project={self.project}", "--format", "{{.Names}}"
        ).stdout.split()
        return {re.sub(rf"^{re.escape(self.project)}_(.+)_\d+$", r"\1", name): name for name in out}

    def logs(self) -> str:
        parts = []
        for service, name in self.containers().items():
            out = self.run("logs", "--tail", "40", name, check=False)
            parts.append(f"--- {service}\n{out.stdout}{out.stderr}")
        return "\n".join(parts)

    def up(self) -> None:
        data = write_small_agnews(self.workdir / "data")
        # the trainer (uid 10001) reads the bind-mounted folder
        data.chmod(0o755)
        for f in data.iterdir():
            f.chmod(0o644)
        start = time.monotonic()
        out = self._script("scripts/images-stack.sh", "up", timeout=900)
        match = re.search(r"^ready_s=([\d.]+)$", out, re.M)
        assert match, out
        self.ready_s = float(match.group(1))
        self.seed_and_up_s = time.monotonic() - start

    def down(self) -> None:
        env = self.env | {"AGNEWS_DOWN_VOLUMES": "1"}
        subprocess.run(["bash", "scripts/images-stack.sh", "down"], cwd=REPO, env=env, capture_output=True, timeout=300)
        (REPO / ".run" / "images" / f"{self.project}.env").unlink(missing_ok=True)

    def write_report(self) -> Path:
        REPORT.mkdir(parents=True, exist_ok=True)
        path = REPORT / "smoke.json"
        path.write_text(
            json.dumps({"sizes": self.sizes, "build_s": self.build_s, "ready_s": self.ready_s}, indent=2) + "\n"
        )
        return path

    @classmethod
    @contextmanager
    def start(cls, workdir: Path) -> Iterator[ImageStack]:
        stack = cls(workdir=workdir)
        stack.build()
        try:
            stack.up()
            stack.write_report()
            yield stack
        finally:
            stack.down()
