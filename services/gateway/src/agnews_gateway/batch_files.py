"""Parse uploaded article files (CSV, JSONL, TXT) into (id, title, description) rows, as a stream.

The gateway reads an upload through `count_articles` before queuing it, so a bad file is a 422 naming the
problem at once, and memory stays bounded whatever the file holds: lines are read one at a time (each at
most `max_line_chars`), rows are counted, not kept, and the article cap stops the read the moment it is
crossed. The batch worker iterates the same stored bytes with the same function.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO, Literal

from agnews_core.errors import InvalidInputError, PayloadTooLargeError
from agnews_core.text import model_input, scrub

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


MAX_LINE_CHARS = 1 << 20


def _lines(stream: BinaryIO, max_line_chars: int) -> Iterator[str]:
    """Decoded lines (endings kept), refusing one longer than `max_line_chars` before it is read whole."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    line_no = 0
    try:
        while line := text.readline(max_line_chars + 1):
            line_no += 1
            if len(line) > max_line_chars:
                raise PayloadTooLargeError(f"line {line_no} is longer than {max_line_chars} characters")
            yield line
    except UnicodeDecodeError:
        raise InvalidInputError(f"the file is not UTF-8 text (a bad byte near line {line_no + 1})") from None
    finally:
        text.detach()  # the caller owns the stream


def _has_text(title: str, description: str) -> bool:
    """Something is left for the model once the shared text function has cleaned it."""
    return bool(model_input(title, description))


def _check_count(n: int, max_articles: int) -> None:
    if n > max_articles:
        raise PayloadTooLargeError(f"the file holds more than {max_articles} articles; split it into smaller files")


def _parse_csv(lines: Iterator[str], max_articles: int) -> Iterator[Row]:
    reader = csv.reader(lines)
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
    n = 0
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
            if not _has_text(title, description):
                raise InvalidInputError(f"CSV line {line_no} has no text")
            n += 1
            _check_count(n, max_articles)
            yield Row(cell("id") or str(n), title, description)
    except csv.Error as exc:
        raise InvalidInputError(f"the CSV file is malformed near line {reader.line_num}: {exc}") from None


def _parse_jsonl(lines: Iterator[str], max_articles: int) -> Iterator[Row]:
    n = 0
    for line_no, line in enumerate(lines, start=1):
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
        if not _has_text(title, description):
            raise InvalidInputError(f"JSONL line {line_no} has no 'text', 'title' or 'description'")
        row_id = obj.get("id")
        n += 1
        _check_count(n, max_articles)
        yield Row(str(row_id)[:200] if row_id is not None else str(n), title, description)


def _parse_txt(lines: Iterator[str], max_articles: int) -> Iterator[Row]:
    n = 0
    for line in lines:
        if _has_text(line, ""):  # blank lines, and lines nothing survives cleaning in, are skipped
            n += 1
            _check_count(n, max_articles)
            yield Row(str(n), line.strip())


def iter_articles(
    stream: BinaryIO, fmt: FileFormat, max_articles: int, max_line_chars: int = MAX_LINE_CHARS
) -> Iterator[Row]:
    """Rows of an upload, read as a stream; InvalidInputError (422) or PayloadTooLargeError (413) saying
    what is wrong, raised at the line where it is."""
    parse = {"csv": _parse_csv, "jsonl": _parse_jsonl, "txt": _parse_txt}[fmt]
    empty = True
    for row in parse(_lines(stream, max_line_chars), max_articles):
        empty = False
        # JSONL escapes can carry lone surrogates and controls; they must not reach the result CSV or inference
        yield Row(scrub(row.id), scrub(row.title), scrub(row.description))
    if empty:
        raise InvalidInputError(f"the {fmt.upper()} file holds no articles")


def count_articles(stream: BinaryIO, fmt: FileFormat, max_articles: int, max_line_chars: int = MAX_LINE_CHARS) -> int:
    """How many articles an upload holds, validating every row without keeping any."""
    return sum(1 for _ in iter_articles(stream, fmt, max_articles, max_line_chars))


def parse_articles(data: bytes, fmt: FileFormat, max_articles: int, max_line_chars: int = MAX_LINE_CHARS) -> list[Row]:
    """Every row of stored upload bytes (the batch worker, whose files passed `count_articles` already)."""
    return list(iter_articles(io.BytesIO(data), fmt, max_articles, max_line_chars))
