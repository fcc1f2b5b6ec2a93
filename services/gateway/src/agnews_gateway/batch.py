"""The batch job: classify a stored upload in chunks through the inference service, store a result CSV.

Idempotent: the result is one object written at the end (atomically), so a redelivered job just writes the
same file again; nothing is appended.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from typing import Any, Protocol

from agnews_core.jobs import JobContext
from agnews_core.labels import LABEL_NAMES
from agnews_core.storage import ArtifactStore
from agnews_core.text import model_input

from agnews_gateway.batch_files import FileFormat, parse_articles

# prediction_id last, so readers that take the first columns by position keep working; empty when not logged.
RESULT_COLUMNS = ("id", "text", "label", "label_id", *(f"p_{name}" for name in LABEL_NAMES), "prediction_id")


class Classifier(Protocol):
    def classify_articles(self, articles: list[dict[str, str]]) -> dict[str, Any]: ...


def input_key(job_id: str, fmt: FileFormat) -> str:
    return f"jobs/{job_id}/input.{fmt}"


def result_key(job_id: str) -> str:
    return f"jobs/{job_id}/result.csv"


def run_batch(
    ctx: JobContext,
    store: ArtifactStore,
    classifier: Classifier,
    *,
    chunk_size: int,
    max_articles: int,
    pause_s: float = 0.0,
) -> dict[str, Any]:
    """Classify every article of the job's upload; the job result (counts and where the CSV is)."""
    job = ctx.job
    fmt: FileFormat = job.params["format"]
    rows = parse_articles(store.get_bytes(input_key(job.id, fmt)), fmt, max_articles)
    n = len(rows)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    counts: Counter[str] = Counter()
    versions: list[str] = []
    ctx.progress(0.0, f"classifying {n} articles")
    for start in range(0, n, chunk_size):
        ctx.check_cancelled()
        chunk = rows[start : start + chunk_size]
        answer = classifier.classify_articles([{"title": r.title, "description": r.description} for r in chunk])
        predictions = answer["predictions"]
        if len(predictions) != len(chunk):
            raise RuntimeError(f"inference returned {len(predictions)} predictions for {len(chunk)} articles")
        if answer.get("model_version") and answer["model_version"] not in versions:
            versions.append(answer["model_version"])
        for row, pred in zip(chunk, predictions, strict=True):
            counts[pred["label"]] += 1
            scores = pred["scores"]
            writer.writerow(
                [
                    row.id,
                    model_input(row.title, row.description),
                    pred["label"],
                    pred["label_id"],
                    *(f"{float(scores.get(name, 0.0)):.6f}" for name in LABEL_NAMES),
                    pred.get("prediction_id") or "",
                ]
            )
        done = start + len(chunk)
        ctx.progress(done / n, f"classified {done}/{n} articles")
        if pause_s and done < n:
            time.sleep(pause_s)
    store.put_bytes(result_key(job.id), out.getvalue().encode("utf-8"))
    return {
        "n": n,
        "counts": {name: counts.get(name, 0) for name in LABEL_NAMES},
        "result_url": f"/v1/jobs/{job.id}/result",
        "model_versions": versions,
    }
