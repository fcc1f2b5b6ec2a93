"""Stage 2, validation: judge the canonical dataset before any compute is spent on it.

Each check yields findings; a finding is an error (the run stops) or a warning (recorded in the report).
Where a check has a threshold, going past it turns its warning into an error. The report is written either
way, so a failed run leaves the full list of problems behind; the exception names the first one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from agnews_core.errors import DataValidationError
from agnews_core.labels import LABEL_NAMES
from agnews_core.text import model_input
from pydantic import BaseModel, Field

from agnews_trainer.config import ValidationThresholds
from agnews_trainer.ingestion import SPLITS, DataCard, load_ingested
from agnews_trainer.manifest import recording, write_json

log = logging.getLogger(__name__)

REPORT_NAME = "validation_report.json"
REQUIRED_COLUMNS = ("row", "label", "title", "description")
PLACEHOLDERS = frozenset({"#NAME?", "#VALUE!", "#REF!", "#N/A", "#DIV/0!", "#NULL!", "#NUM!"})
MAX_ROWS_LISTED = 20


class Finding(BaseModel):
    check: str
    severity: Literal["error", "warning"]
    message: str
    file: str | None = None
    rows: list[int] = Field(default_factory=list, description="first offending rows (1-based data rows)")
    count: int = 0


class ValidationReport(BaseModel):
    passed: bool
    errors: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)
    stats: dict[str, dict[str, float | int]] = Field(default_factory=dict)
    thresholds: ValidationThresholds


@dataclass
class _Split:
    name: str
    file: str
    frame: pd.DataFrame
    text: pd.Series  # model input, as transformation will build it


def _finding(check: str, error: bool, message: str, split: _Split | None = None, rows: Iterable[int] = ()) -> Finding:
    listed = [int(r) for r in rows]
    return Finding(
        check=check,
        severity="error" if error else "warning",
        message=message,
        file=split.file if split else None,
        rows=listed[:MAX_ROWS_LISTED],
        count=len(listed),
    )


def _rows(split: _Split, mask: pd.Series) -> list[int]:
    return [int(r) for r in split.frame.loc[mask, "row"]]


def _check_schema(split: _Split) -> list[Finding]:
    missing = [c for c in REQUIRED_COLUMNS if c not in split.frame.columns]
    if missing:
        return [_finding("schema", True, f"missing column(s) {', '.join(missing)}", split)]
    out = []
    for column in ("title", "description"):
        bad = ~split.frame[column].map(lambda v: isinstance(v, str))
        if bad.any():
            out.append(_finding("types", True, f"{column} is not text", split, _rows(split, bad)))
    return out


def _check_labels(split: _Split) -> list[Finding]:
    labels = split.frame["label"].astype("string").str.strip()
    valid = {str(i) for i in range(1, len(LABEL_NAMES) + 1)}
    bad = ~labels.isin(valid).fillna(False).astype(bool)
    if not bad.any():
        return []
    first = labels[bad].iloc[0]
    msg = f"label {first!r} is not one of 1-{len(LABEL_NAMES)}"
    return [_finding("labels", True, msg, split, _rows(split, bad))]


def _check_text(split: _Split, t: ValidationThresholds) -> list[Finding]:
    out = []
    raw = split.frame["title"].fillna("") + " " + split.frame["description"].fillna("")
    empty = split.text.str.len() == 0
    if empty.any():
        n = int(empty.sum())
        out.append(
            _finding(
                "empty_text",
                n > t.max_empty_rows,
                "empty or whitespace-only title and description",
                split,
                _rows(split, empty),
            )
        )
    long = raw.str.len() > t.max_text_chars
    if long.any():
        n_chars = int(raw[long].str.len().iloc[0])
        msg = f"text of {n_chars} characters exceeds max_text_chars={t.max_text_chars}"
        out.append(_finding("text_length", True, msg, split, _rows(split, long)))
    short = ~empty & (split.text.str.len() < t.min_text_chars)
    if short.any():
        msg = f"text shorter than min_text_chars={t.min_text_chars}"
        out.append(_finding("text_length", False, msg, split, _rows(split, short)))
    placeholder = split.frame["title"].str.strip().isin(PLACEHOLDERS) | split.frame["description"].str.strip().isin(
        PLACEHOLDERS
    )
    if placeholder.any():
        frac = float(placeholder.mean())
        msg = f"spreadsheet placeholder cells such as '#NAME?' ({frac:.2%} of rows)"
        error = frac > t.max_placeholder_fraction
        out.append(_finding("placeholder_cells", error, msg, split, _rows(split, placeholder)))
    return out


def _check_duplicates(split: _Split, t: ValidationThresholds) -> list[Finding]:
    out = []
    frame = split.frame
    dup = frame.duplicated(subset=["label", "title", "description"], keep="first")
    if dup.any():
        frac = float(dup.mean())
        msg = f"exact duplicate rows ({frac:.2%} of rows)"
        out.append(_finding("duplicates", frac > t.max_duplicate_fraction, msg, split, _rows(split, dup)))
    labels = frame["label"].astype("string").str.strip()
    per_text = pd.DataFrame({"text": split.text, "label": labels})
    per_text = per_text[split.text.str.len() > 0]
    n_labels = per_text.groupby("text")["label"].nunique()
    conflicting = n_labels[n_labels > 1].index
    if len(conflicting):
        mask = split.text.isin(set(conflicting))
        frac = len(conflicting) / max(1, per_text["text"].nunique())
        msg = f"{len(conflicting)} text(s) appear with different labels ({frac:.2%} of distinct texts)"
        out.append(_finding("conflicting_labels", frac > t.max_conflict_fraction, msg, split, _rows(split, mask)))
    return out


def _check_balance(split: _Split, t: ValidationThresholds) -> tuple[list[Finding], dict[str, float | int]]:
    labels = split.frame["label"].astype("string").str.strip()
    counts = {name: int((labels == str(i + 1)).sum()) for i, name in enumerate(LABEL_NAMES)}
    smallest, largest = min(counts.values()), max(counts.values())
    ratio = smallest / largest if largest else 0.0
    stats: dict[str, float | int] = {"rows": len(split.frame), **counts, "class_ratio": round(ratio, 4)}
    out = []
    if split.name == "train":
        few = {k: v for k, v in counts.items() if v < t.min_rows_per_class}
        if few:
            detail = ", ".join(f"{k}: {v}" for k, v in few.items())
            out.append(
                _finding(
                    "class_balance", True, f"too few rows per class ({detail}); need {t.min_rows_per_class}", split
                )
            )
    if ratio < t.min_class_ratio and not out:
        msg = f"classes are imbalanced: smallest/largest = {ratio:.2f} < min_class_ratio={t.min_class_ratio} ({counts})"
        out.append(_finding("class_balance", False, msg, split))
    return out, stats


def _check_leakage(train: _Split, test: _Split, t: ValidationThresholds) -> list[Finding]:
    seen = set(train.text[train.text.str.len() > 0])
    leaked = test.text.isin(seen) & (test.text.str.len() > 0)
    if not leaked.any():
        return []
    frac = float(leaked.mean())
    msg = f"{int(leaked.sum())} test text(s) also appear in train ({frac:.2%} of test)"
    return [_finding("leakage", frac > t.max_leakage_fraction, msg, test, _rows(test, leaked))]


def check_frames(
    frames: dict[str, pd.DataFrame], files: dict[str, str], thresholds: ValidationThresholds
) -> ValidationReport:
    """Run every check; never raises for bad data (see `validate_dataset`)."""
    findings: list[Finding] = []
    splits: dict[str, _Split] = {}
    stats: dict[str, dict[str, float | int]] = {}
    for name in SPLITS:
        frame = frames[name]
        split = _Split(name, files.get(name, name), frame, pd.Series([], dtype="string"))
        schema = _check_schema(split)
        findings += schema
        if schema:
            continue
        split.text = pd.Series(
            [model_input(t, d) for t, d in zip(frame["title"], frame["description"], strict=True)],
            index=frame.index,
            dtype="string",
        ).fillna("")
        splits[name] = split
        findings += _check_labels(split) + _check_text(split, thresholds) + _check_duplicates(split, thresholds)
        balance, stats[name] = _check_balance(split, thresholds)
        findings += balance
    if "train" in splits and "test" in splits:
        findings += _check_leakage(splits["train"], splits["test"], thresholds)
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    return ValidationReport(passed=not errors, errors=errors, warnings=warnings, stats=stats, thresholds=thresholds)


def describe_finding(finding: Finding) -> str:
    """'train.csv row 17: label 'x' is not one of 1-4 (3 rows)' -- file, row and problem in one line."""
    where = finding.file or "dataset"
    if finding.rows:
        where += f" row {finding.rows[0]}"
    more = f" ({finding.count} rows)" if finding.count > 1 else ""
    return f"{where}: {finding.message}{more}"


def require_valid_labels(frame: pd.DataFrame, file: str) -> None:
    """Raise DataValidationError unless every row has the columns and a label 1-4 (for evaluation data)."""
    split = _Split("test", file, frame, pd.Series([], dtype="string"))
    problems = _check_schema(split) or _check_labels(split)
    if problems:
        raise DataValidationError(describe_finding(problems[0]))


def validate_dataset(
    ingested_dir: Path, out_dir: Path, thresholds: ValidationThresholds | None = None
) -> ValidationReport:
    """Validate a finished ingestion folder; write validation_report.json; raise on hard failures."""
    thresholds = thresholds or ValidationThresholds()
    frames, card = load_ingested(ingested_dir)
    return validate_frames(frames, card, out_dir, thresholds)


def validate_frames(
    frames: dict[str, pd.DataFrame], card: DataCard, out_dir: Path, thresholds: ValidationThresholds
) -> ValidationReport:
    """As `validate_dataset`, on frames already in memory."""
    with recording(out_dir, "validation") as rec:
        rec.inputs = {"source": card.source, "content_hash": card.content_hash}
        rec.params = thresholds.model_dump()
        report = check_frames(frames, card.files, thresholds)
        write_json(out_dir / REPORT_NAME, report.model_dump(mode="json"))
        rec.summary = {"passed": report.passed, "errors": len(report.errors), "warnings": len(report.warnings)}
        for warning in report.warnings:
            log.warning("data warning: %s", describe_finding(warning))
        if not report.passed:
            first = describe_finding(report.errors[0])
            more = f" (+{len(report.errors) - 1} more error(s))" if len(report.errors) > 1 else ""
            # The manifest is skipped on purpose: a failed stage is not a finished one.
            raise DataValidationError(f"data validation failed: {first}{more}; see {out_dir / REPORT_NAME}")
    return report
