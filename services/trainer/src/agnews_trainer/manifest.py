"""Run-folder manifests: every stage leaves `<run_dir>/<stage>/manifest.json` describing what it wrote.

A stage's manifest is written last, so a folder without one is an interrupted stage, never a finished one.
The next stage (or a person) can rerun from any finished stage's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agnews_core.storage import sha256_file
from pydantic import BaseModel, Field

MANIFEST_NAME = "manifest.json"
STAGES = ("ingestion", "validation", "transformation", "training", "evaluation", "publish")


class StageManifest(BaseModel):
    """What a stage consumed, produced and measured."""

    stage: str
    started_at: datetime
    finished_at: datetime
    seconds: float
    inputs: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict, description="file name (relative) -> sha256")
    summary: dict[str, Any] = Field(default_factory=dict)


def stage_dir(run_dir: Path, stage: str) -> Path:
    """`<run_dir>/<stage>`, created."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    path = run_dir / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: Any) -> Path:
    """Pretty JSON, written through a temporary file so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


class StageRecorder:
    """Collects a stage's inputs, params and summary while it runs; `finish()` writes the manifest."""

    def __init__(self, out_dir: Path, stage: str) -> None:
        self.out_dir = out_dir
        self.stage = stage
        self.inputs: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self._started = datetime.now(UTC)
        self._t0 = time.perf_counter()

    def finish(self, *, hash_limit_bytes: int = 256 << 20) -> StageManifest:
        """Write manifest.json listing every file in the stage folder (hashes skipped for huge files)."""
        outputs: dict[str, str] = {}
        for path in sorted(p for p in self.out_dir.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
            if path.name.startswith("."):
                continue
            rel = path.relative_to(self.out_dir).as_posix()
            outputs[rel] = sha256_file(path) if path.stat().st_size <= hash_limit_bytes else "not hashed (large)"
        manifest = StageManifest(
            stage=self.stage,
            started_at=self._started,
            finished_at=datetime.now(UTC),
            seconds=round(time.perf_counter() - self._t0, 3),
            inputs=self.inputs,
            params=self.params,
            outputs=outputs,
            summary=self.summary,
        )
        write_json(self.out_dir / MANIFEST_NAME, manifest.model_dump(mode="json"))
        return manifest


@contextmanager
def recording(out_dir: Path, stage: str) -> Iterator[StageRecorder]:
    """`with recording(dir, "validation") as rec:` ... the manifest is written only if the body succeeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    rec = StageRecorder(out_dir, stage)
    yield rec
    rec.finish()


def read_stage_manifest(out_dir: Path) -> StageManifest:
    """The manifest of a finished stage folder."""
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} holds no finished stage ({MANIFEST_NAME} missing)")
    return StageManifest.model_validate_json(path.read_text())


def git_commit() -> str | None:
    """The commit this code runs from: $AGNEWS_GIT_COMMIT (images), else `git rev-parse`, else None."""
    if env := os.environ.get("AGNEWS_GIT_COMMIT"):
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
