"""Stage 2: every check, its stated error (file, row, problem) or warning, thresholds, and the real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agnews_core.errors import DataValidationError
from agnews_trainer.config import ValidationThresholds
from agnews_trainer.ingestion import ingest
from agnews_trainer.validation import REPORT_NAME, ValidationReport, validate_dataset
from trainer_helpers import SHARED_DATA, synthetic_rows, write_csv

Rows = list[tuple[str, str, str]]


def _run(tmp_path: Path, train: Rows, test: Rows | None = None, **thresholds: float) -> ValidationReport:
    folder = tmp_path / "data"
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", test if test is not None else synthetic_rows(40, seed=9, start=50_000))
    ingest(str(folder), tmp_path / "ingestion")
    return validate_dataset(tmp_path / "ingestion", tmp_path / "validation", ValidationThresholds(**thresholds))


def _report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "validation" / REPORT_NAME).read_text())


def test_clean_data_passes_with_a_report(tmp_path: Path) -> None:
    report = _run(tmp_path, synthetic_rows(120, seed=1))
    assert report.passed and not report.errors and not report.warnings
    assert report.stats["train"]["rows"] == 120 and report.stats["train"]["class_ratio"] == 1.0
    assert (tmp_path / "validation" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("bad_row", "check", "message"),
    [
        (("7", "A title here", "some description"), "labels", "label '7' is not one of 1-4"),
        (("x", "A title here", "some description"), "labels", "label 'x' is not one of 1-4"),
        (("2", "   ", "  \\ "), "empty_text", "empty or whitespace-only title and description"),
        (("2", "T", "word " * 2000), "text_length", "text of 10002 characters exceeds max_text_chars=5000"),
    ],
)
def test_hard_failures_name_file_row_and_problem(
    tmp_path: Path, bad_row: tuple[str, str, str], check: str, message: str
) -> None:
    rows = synthetic_rows(40, seed=1)
    rows.insert(9, bad_row)  # data row 10
    with pytest.raises(DataValidationError) as err:
        _run(tmp_path, rows)
    assert f"train.csv row 10: {message}" in str(err.value)
    report = _report(tmp_path)
    assert not report["passed"] and report["errors"][0]["check"] == check and report["errors"][0]["rows"] == [10]
    assert not (tmp_path / "validation" / "manifest.json").exists()  # a failed stage is not a finished one


def test_duplicates_warn_then_fail_past_threshold(tmp_path: Path) -> None:
    rows = synthetic_rows(40, seed=1)
    report = _run(tmp_path, [*rows, rows[0]])
    assert report.passed and [w.check for w in report.warnings] == ["duplicates"]
    assert report.warnings[0].rows == [41]
    with pytest.raises(DataValidationError, match=r"train.csv row 41: exact duplicate rows"):
        _run(tmp_path, [*rows, rows[0]], max_duplicate_fraction=0.0)


def test_conflicting_labels_warn_by_default_and_fail_when_strict(tmp_path: Path) -> None:
    rows = synthetic_rows(200, seed=1)
    label, title, description = rows[3]
    rows.append(("1" if label != "1" else "2", title, description))
    report = _run(tmp_path, rows)
    assert report.passed and report.warnings[0].check == "conflicting_labels"
    assert report.warnings[0].rows == [4, 201]
    with pytest.raises(DataValidationError, match=r"train.csv row 4: 1 text\(s\) appear with different labels"):
        _run(tmp_path, rows, max_conflict_fraction=0.0)


def test_leakage_warns_then_fails(tmp_path: Path) -> None:
    train = synthetic_rows(80, seed=1)
    test = [*synthetic_rows(39, seed=9, start=50_000), train[5]]
    report = _run(tmp_path, train, test)
    assert report.passed and report.warnings[0].check == "leakage" and report.warnings[0].rows == [40]
    with pytest.raises(DataValidationError, match=r"test.csv row 40: 1 test text\(s\) also appear in train"):
        _run(tmp_path, train, test, max_leakage_fraction=0.0)


def test_class_balance(tmp_path: Path) -> None:
    rows = synthetic_rows(80, seed=1)
    imbalanced = [r for i, r in enumerate(rows) if r[0] != "4" or i < 20]
    report = _run(tmp_path, imbalanced)
    assert report.passed and report.warnings[0].check == "class_balance"
    assert "smallest/largest" in report.warnings[0].message
    missing = [r for r in rows if r[0] != "4"]
    with pytest.raises(DataValidationError, match=r"train.csv: too few rows per class \(Sci/Tech: 0\)"):
        _run(tmp_path, missing)


def test_placeholder_cells_warn_within_threshold(tmp_path: Path) -> None:
    rows = synthetic_rows(200, seed=1)
    rows[20] = (rows[20][0], "#NAME?", rows[20][2])
    report = _run(tmp_path, rows)
    assert report.passed and report.warnings[0].check == "placeholder_cells" and report.warnings[0].rows == [21]
    with pytest.raises(DataValidationError, match=r"row 21: spreadsheet placeholder cells"):
        _run(tmp_path, rows, max_placeholder_fraction=0.0)


def test_short_text_is_a_warning(tmp_path: Path) -> None:
    rows = [*synthetic_rows(40, seed=1), ("1", "", "War")]
    report = _run(tmp_path, rows)
    assert report.passed and report.warnings[0].check == "text_length" and report.warnings[0].rows == [41]


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    rows = [*synthetic_rows(40, seed=1), ("9", "a title", "a description"), ("1", " ", " ")]
    with pytest.raises(DataValidationError, match=r"row 41: label '9'.*\(\+1 more error\(s\)\)"):
        _run(tmp_path, rows)
    assert {e["check"] for e in _report(tmp_path)["errors"]} == {"labels", "empty_text"}


@pytest.mark.skipif(not (SHARED_DATA / "train.csv").is_file(), reason="needs ../shared/data/agnews")
def test_real_agnews_passes_with_warnings_only(tmp_path: Path) -> None:
    ingest(str(SHARED_DATA), tmp_path / "ingestion")
    report = validate_dataset(tmp_path / "ingestion", tmp_path / "validation")
    assert report.passed, report.errors
    checks = {w.check for w in report.warnings}
    assert {"placeholder_cells", "conflicting_labels"} <= checks
    placeholders = sum(w.count for w in report.warnings if w.check == "placeholder_cells")
    assert placeholders == 6
