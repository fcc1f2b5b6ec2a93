"""Paired tests and intervals used by promotion and bench-accuracy, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from agnews_trainer.stats import mcnemar_exact, paired_test, wilson_interval


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (6, 0, 2 / 64),  # all six discordant rows favour A: 2 x 0.5^6
        (10, 3, 0.09228515625),  # 2 x P(X <= 3), X ~ Bin(13, 1/2) = 2 x 378/8192
        (3, 10, 0.09228515625),  # two-sided: symmetric
    ],
)
def test_mcnemar_exact(only_a: int, only_b: int, expected: float) -> None:
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_stays_finite_on_large_counts() -> None:
    assert 0 < mcnemar_exact(1200, 1000) < 1e-4 and mcnemar_exact(1000, 1000) == pytest.approx(1.0)


def test_paired_test_counts_discordant_rows_and_the_difference() -> None:
    labels = np.array([0, 1, 2, 3] * 50)
    a = labels.copy()
    b = labels.copy()
    a[:4] = (labels[:4] + 1) % 4  # A wrong on 4 rows
    b[10:30] = (labels[10:30] + 1) % 4  # B wrong on 20 others
    test = paired_test(labels, a, b)
    assert (test.only_a, test.only_b) == (20, 4) and test.delta_points == pytest.approx(8.0)
    assert test.ci_points[0] < 8.0 < test.ci_points[1] and test.significant(0.01)
    with pytest.raises(ValueError, match="same, non-empty rows"):
        paired_test(labels, a[:10], b)


def test_wilson_interval_at_the_issue_figures() -> None:
    low, high = wilson_interval(3543, 3800)  # 93.24 % on test.csv
    assert low == pytest.approx(0.92394, abs=1e-4) and high == pytest.approx(0.93992, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0) and wilson_interval(10, 10)[1] == pytest.approx(1.0)
