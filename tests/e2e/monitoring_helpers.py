"""Helpers of the monitoring stack tests: labelled rows, classify calls, the feedback window, /metrics samples."""

from __future__ import annotations

import csv
import re
from typing import Any

import httpx
from agnews_core.labels import label_name
from agnews_core.text import model_input


def labelled_rows(stack: Any, n: int) -> list[tuple[str, str]]:
    """(model input, true class name) for n rows of the stack's own test split."""
    out = []
    with open(stack.data_dir / "test.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out.append((model_input(row["title"], row["description"]), label_name(int(row["label"]))))
            if len(out) == n:
                break
    assert len(out) == n
    return out


def classify(client: httpx.Client, texts: list[str]) -> dict[str, Any]:
    response = client.post("/v1/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def window_of(client: httpx.Client, version: str) -> tuple[int, int]:
    summary = client.get("/v1/monitoring").json()
    for row in summary["live_accuracy"]:
        if row["model_version"] == version:
            return row["n"], row["correct"]
    return 0, 0


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    """One sample of a /metrics page (gateway or inference client), or None when absent."""
    text = client.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None
