"""Parse uploaded article files (CSV, JSONL, TXT) into (id, title, description) rows.

The gateway parses an upload before queuing it, so a bad file is a 422 naming the problem at once; the
batch worker parses the same stored bytes with the same function.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from agnews_core.errors import InvalidInputError, PayloadTooLargeError

FileFormat = Literal["csv", "jsonl", "txt"]
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "txt",
    ".text": "txt",
}


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    description: str = ""


def detect_format(filename: str | None, head: bytes) -> FileFormat:
    """By extension, else by content: JSON objects, a header row with known columns, else plain text."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    first = head.lstrip().split(b"\n", 1)[0].strip().lower()
    if first.startswith(b"{"):
        return "jsonl"
    if b"," in first and any(col in first for col in (b"text", b"title", b"description")):
        return "csv"
    return "txt"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the file is not UTF-8 text (bad byte at offset {exc.start})") from None


def _check_count(n: int, max_articles: int) -> None:
    if n > max_articles:
        raise PayloadTooLargeError(f"the file holds more than {max_articles} articles; split it into smaller files")


def _parse_csv(text: str, max_articles: int) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInputError("the CSV file is empty") from None
    except csv.Error as exc:
        raise InvalidInputError(f"the CSV header cannot be read: {exc}") from None
    cols = {name.strip().lower(): i for i, name in enumerate(header)}
    if "text" not in cols and "title" not in cols and "description" not in cols:
        raise InvalidInputError(
            f"the CSV header must name a 'text' column or 'title' and 'description' columns; got {header[:8]}"
        )
    rows: list[Row] = []
    try:
        for line_no, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise InvalidInputError(f"CSV line {line_no} has {len(record)} fields, the header has {len(header)}")

            def cell(name: str, record: list[str] = record) -> str:
                return record[cols[name]].strip() if name in cols else ""

            if "text" in cols:
                title, description = cell("text"), ""
            else:
                title, description = cell("title"), cell("description")
            if not (title or description):
                raise InvalidInputError(f"CSV line {line_no} has no text")
            rows.append(Row(cell("id") or str(len(rows) + 1), title, description))
            _check_count(len(rows), max_articles)
    except csv.Error as exc:
        raise InvalidInputError(f"the CSV file is malformed near line {reader.line_num}: {exc}") from None
    return rows


def _parse_jsonl(text: str, max_articles: int) -> list[Row]:
    rows: list[Row] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"JSONL line {line_no} is not valid JSON: {exc.msg}") from None
        if isinstance(obj, str):
            obj = {"text": obj}
        if not isinstance(obj, dict):
            raise InvalidInputError(f"JSONL line {line_no} must be an object with 'text' or 'title'/'description'")
        fields = {k: obj.get(k) for k in ("text", "title", "description")}
        if any(v is not None and not isinstance(v, str) for v in fields.values()):
            raise InvalidInputError(f"JSONL line {line_no}: 'text', 'title' and 'description' must be strings")
        if fields["text"] is not None:
            title, description = fields["text"].strip(), ""
        else:
            title, description = (fields["title"] or "").strip(), (fields["description"] or "").strip()
        if not (title or description):
            raise InvalidInputError(f"JSONL line {line_no} has no 'text', 'title' or 'description'")
        row_id = obj.get("id")
        rows.append(Row(str(row_id) if row_id is not None else str(len(rows) + 1), title, description))
        _check_count(len(rows), max_articles)
    return rows


def _parse_txt(text: str, max_articles: int) -> list[Row]:
    rows: list[Row] = []
    for line in text.splitlines():
        if line.strip():
            rows.append(Row(str(len(rows) + 1), line.strip()))
            _check_count(len(rows), max_articles)
    return rows


def parse_articles(data: bytes, fmt: FileFormat, max_articles: int) -> list[Row]:
    """Rows of an upload; InvalidInputError (422) or PayloadTooLargeError (413) saying what is wrong."""
    text = _decode(data)
    parse = {"csv": _parse_csv, "jsonl": _parse_jsonl, "txt": _parse_txt}[fmt]
    rows = parse(text, max_articles)
    if not rows:
        raise InvalidInputError(f"the {fmt.upper()} file holds no articles")
    return rows
