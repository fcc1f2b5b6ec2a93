"""Learning-rate schedule: linear warmup, then linear decay to zero at the end of the run.

"The end" is whichever comes first: the last step, or the time budget. Progress is the larger of the step
fraction and the clock fraction, so a run stopped by its budget still anneals fully instead of being cut off
at a high learning rate, which matters most on a slow CPU where the budget, not the epochs, ends training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    peak_lr: float
    total_steps: int
    warmup_ratio: float = 0.06
    budget_s: float | None = None

    def progress(self, step: int, seconds: float) -> float:
        """Fraction of the run done, 0-1."""
        done = step / max(1, self.total_steps)
        if self.budget_s:
            done = max(done, seconds / self.budget_s)
        return min(1.0, done)

    def lr(self, step: int, seconds: float) -> float:
        """Learning rate for optimizer step number `step` (0-based)."""
        p = self.progress(step + 1, seconds)
        w = self.warmup_ratio
        if w > 0 and p < w:
            return self.peak_lr * p / w
        return self.peak_lr * max(0.0, (1.0 - p) / (1.0 - w))


class Clock:
    """A stopwatch that can be paused (bench snapshots are not training time) and resumed from a saved value."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._base = start_s
        self._since: float | None = time.perf_counter()

    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._base + running

    def pause(self) -> None:
        if self._since is not None:
            self._base += time.perf_counter() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()
