"""A run's progress: each stage's share of the bar, the time left, and cancellation between and inside stages."""

from __future__ import annotations

import time

from agnews_core.errors import AgnewsError

from agnews_trainer.types import CancelFn, ProgressFn, RunProgressFn

# Share of the run's progress bar each stage owns; training dominates every real run.
_SPANS: dict[str, tuple[float, float]] = {
    "ingestion": (0.0, 0.04),
    "validation": (0.04, 0.07),
    "transformation": (0.07, 0.10),
    "training": (0.10, 0.88),
    "evaluation": (0.88, 0.96),
    "publish": (0.96, 1.0),
}


class PipelineCancelled(AgnewsError):
    """The run was cancelled (CancelFn returned True); nothing was published."""


class RunReporter:
    """Maps each stage's own 0-1 progress onto the run's bar, estimates the time left, checks for cancellation.

    The estimate is the pace since training began: training dominates every real run, and under a time budget
    its progress is the clock's (schedule.py), so the pace is steady; before training there is no estimate.
    """

    def __init__(self, progress: RunProgressFn | None, cancel: CancelFn | None) -> None:
        self._progress = progress
        self._cancel = cancel
        self._paced_from: tuple[float, float] | None = None  # (monotonic time, run fraction) when training began

    def stage(self, name: str, message: str | None = None) -> None:
        self.check_cancel()
        self.report(name, 0.0, message or f"{name}")

    def report(self, name: str, fraction: float, message: str) -> None:
        start, end = _SPANS[name]
        overall = start + (end - start) * min(max(fraction, 0.0), 1.0)
        if self._progress is not None:
            self._progress(overall, message, self.eta_s(name, overall))

    def eta_s(self, name: str, overall: float, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if self._paced_from is None:
            if name != "training":
                return None
            self._paced_from = (now, overall)
        since, origin = self._paced_from
        done = overall - origin
        if done < 0.01 or overall >= 1.0:
            return None if overall < 1.0 else 0.0
        return round((now - since) * (1.0 - overall) / done, 1)

    def for_stage(self, name: str) -> ProgressFn:
        return lambda fraction, message: self.report(name, fraction, message)

    def cancelled(self) -> bool:
        return bool(self._cancel and self._cancel())

    def check_cancel(self) -> None:
        if self.cancelled():
            raise PipelineCancelled("training run cancelled; nothing was published")
