"""A run's durable twin in the artifact store: runs/<run id>/ keeps its latest checkpoint and its result.

The trainer's own disk (a pod's emptyDir) dies with the pod; the artifact store (S3 or the registry volume)
does not. After each local checkpoint the loop calls `save_checkpoint`; before training, `restore_checkpoint`
brings the latest one to whichever worker runs the job next. Each checkpoint uploads into a folder of its own
and a small pointer (latest.json) is written last, so a reader never sees a half-uploaded checkpoint (the
registry's rule: files first, pointer last). `result` marks a run that published: a redelivery returns it
instead of publishing a second version. The reaper deletes the folder once the job succeeded.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from agnews_core.errors import NotFoundError
from agnews_core.storage import ArtifactStore

from agnews_trainer.training.checkpoint import CURRENT, STATE_FILE

log = logging.getLogger(__name__)

RUNS_PREFIX = "runs"
LATEST = "latest.json"
RESULT = "run.json"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}"


class DurableRun:
    """Checkpoints and the result of one run (one training job) under runs/<run id>/ in a store."""

    def __init__(self, store: ArtifactStore, run_id: str) -> None:
        self.store = store
        self.prefix = run_prefix(run_id)

    def _latest(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.store.get_bytes(f"{self.prefix}/checkpoints/{LATEST}")))
        except NotFoundError:
            return None

    def save_checkpoint(self, folder: Path) -> None:
        """Upload a local checkpoint folder (written by training.checkpoint.save_checkpoint)."""
        step = int(json.loads((folder / STATE_FILE).read_text())["step"])
        base = f"{self.prefix}/checkpoints/step-{step:09d}"
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != STATE_FILE)
        previous = self._latest()
        for name in [*names, STATE_FILE]:
            self.store.put_file(f"{base}/{name}", folder / name)
        self.store.put_bytes(
            f"{self.prefix}/checkpoints/{LATEST}",
            json.dumps({"step": step, "folder": base, "files": [*names, STATE_FILE]}).encode(),
        )
        if previous and previous["folder"] != base:
            for name in previous.get("files", []):
                self.store.delete(f"{previous['folder']}/{name}")
        log.info("checkpoint of step %d saved to %s/%s", step, self.store.uri, base)

    def restore_checkpoint(self, work_dir: Path) -> int | None:
        """Bring the latest durable checkpoint into work_dir/last unless a local one is as new; its step or None."""
        latest = self._latest()
        if latest is None:
            return None
        local = work_dir / CURRENT / STATE_FILE
        if local.is_file() and int(json.loads(local.read_text()).get("step", -1)) >= int(latest["step"]):
            return None
        tmp, final = work_dir / f".{CURRENT}.restore", work_dir / CURRENT
        shutil.rmtree(tmp, ignore_errors=True)
        for name in latest["files"]:
            self.store.get_file(f"{latest['folder']}/{name}", tmp / name)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        log.info("restored the checkpoint of step %d from %s", latest["step"], self.store.uri)
        return int(latest["step"])

    def version(self, make: str) -> str:
        """The version id this run publishes as: the one chosen by an earlier delivery, else `make` (recorded).

        A delivery that died after uploading its version (before its result was written) is redone under the
        same id, so the registry refuses the duplicate and the run reuses what it uploaded: one version per run.
        """
        key = f"{self.prefix}/version.txt"
        try:
            return self.store.get_bytes(key).decode().strip()
        except NotFoundError:
            self.store.put_bytes(key, make.encode())
            return make

    def result(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.store.get_bytes(f"{self.prefix}/{RESULT}")))
        except NotFoundError:
            return None

    def write_result(self, result: dict[str, Any]) -> None:
        self.store.put_bytes(f"{self.prefix}/{RESULT}", json.dumps(result, indent=1).encode())

    def delete(self) -> None:
        """Everything of this run in the store (after success; the version lives in the registry)."""
        for key in self.store.list(self.prefix):
            self.store.delete(key)
