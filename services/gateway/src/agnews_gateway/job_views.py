"""What a job looks like to whoever asks: admins see the record, everyone else a public view.

A public view keeps what a caller sent or can use (file name, format, counts, labels, the result URL) and
drops what only operators need: data sources, storage keys and bucket names, worker errors verbatim (they
can name hosts and paths). One allow-list per field, so a new internal field stays private by default.
"""

from __future__ import annotations

from typing import Any, Protocol

from agnews_core.schemas import Job, JobState

PUBLIC_PARAMS = frozenset({"filename", "format", "n_articles", "size_bytes", "preset"})
PUBLIC_RESULT = frozenset({"n", "counts", "result_url", "model_versions", "version", "promoted"})


class _Viewer(Protocol):
    @property
    def admin(self) -> bool: ...


def _keep(values: dict[str, Any] | None, allowed: frozenset[str]) -> dict[str, Any] | None:
    return None if values is None else {k: v for k, v in values.items() if k in allowed}


def public_view(job: Job) -> Job:
    error = None
    if job.state == JobState.FAILED:
        # the worker's own words can name internal hosts and paths; input errors are the caller's to see
        error = job.error if (job.error or "").startswith(("the file", "CSV", "JSONL", "line")) else "the job failed"
    return job.model_copy(
        update={
            "params": _keep(job.params, PUBLIC_PARAMS) or {},
            "result": _keep(job.result, PUBLIC_RESULT),
            "error": error,
        }
    )


def view_for(caller: _Viewer, job: Job) -> Job:
    return job if caller.admin else public_view(job)
