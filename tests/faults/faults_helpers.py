"""Small helpers of the fault suite: timing a recovery, reading a durable run, a Prometheus sample."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check()` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(interval)
    raise TimeoutError(f"{what} not seen after {timeout:.0f}s")


def report(name: str, seconds: float, **extra: Any) -> None:
    """One line per fault (pytest -s shows it; the summary lists it with -rA): its recovery time."""
    fields = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\n[fault] {name}: recovered in {seconds:.1f}s {fields}".rstrip())


def durable_step(registry_root: Path, job_id: str) -> int | None:
    """The step of a training job's latest durable checkpoint in the registry store, if any."""
    latest = registry_root / "runs" / f"job-{job_id}" / "checkpoints" / "latest.json"
    try:
        return int(json.loads(latest.read_text())["step"])
    except (OSError, ValueError, KeyError):
        return None


def metric(url: str, name: str, labels: str = "") -> float:
    """One sample of a Prometheus text page (0 when absent)."""
    text = httpx.get(url, timeout=5).text
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0
