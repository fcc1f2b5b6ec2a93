"""Upload parsing: every accepted format, and a readable reason for each bad file."""

from __future__ import annotations

import io

import pytest
from agnews_core.errors import InvalidInputError, PayloadTooLargeError
from agnews_gateway.batch_files import Row, count_articles, detect_format, parse_articles


def test_csv_with_title_and_description() -> None:
    data = b"id,title,description\na1,Oil climbs,Crude rose 3%\n\na2,Federer wins,\n"
    assert parse_articles(data, "csv", 10) == [Row("a1", "Oil climbs", "Crude rose 3%"), Row("a2", "Federer wins", "")]


def test_csv_with_text_column_and_bom() -> None:
    assert parse_articles("\ufefftext\nhello world\n".encode(), "csv", 10) == [Row("1", "hello world")]


def test_jsonl_and_txt() -> None:
    data = b'{"title": "a", "description": "b", "id": 7}\n\n{"text": "c"}\n"d"\n'
    assert parse_articles(data, "jsonl", 10) == [Row("7", "a", "b"), Row("2", "c"), Row("3", "d")]
    assert parse_articles(b"one\n\n two \n", "txt", 10) == [Row("1", "one"), Row("2", "two")]


def test_detect_format() -> None:
    assert detect_format("x.CSV", b"") == "csv"
    assert detect_format("x.ndjson", b"") == "jsonl"
    assert detect_format(None, b'{"text": 1}') == "jsonl"
    assert detect_format("upload", b"title,description\n") == "csv"
    assert detect_format("upload", b"just a line") == "txt"


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"foo,bar\n1,2\n", "csv", "must name a 'text' column"),
        (b"text,id\nhello\n", "csv", "line 2 has 1 fields"),
        (b"id,title\n5,\n", "csv", "line 2 has no text"),
        (b'{"text": "ok"}\n{nope\n', "jsonl", "line 2 is not valid JSON"),
        (b'{"text": 3}\n', "jsonl", "must be strings"),
        (b"[1]\n", "jsonl", "must be an object"),
        (b"\n\n", "txt", "holds no articles"),
        (b"\xff\xfe\x00bad", "txt", "not UTF-8"),
    ],
)
def test_bad_files_say_what_is_wrong(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_articles(data, fmt, 10)  # type: ignore[arg-type]


def test_too_many_articles() -> None:
    with pytest.raises(PayloadTooLargeError, match="more than 3 articles"):
        parse_articles(b"a\nb\nc\nd\n", "txt", 3)


class _Counted(io.RawIOBase):
    """An endless TXT upload of tiny lines that records how far the parser read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        chunk = b"a\n" * (len(buffer) // 2)
        buffer[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def test_the_cap_stops_the_read_as_a_stream() -> None:
    stream = _Counted()
    with pytest.raises(PayloadTooLargeError, match="more than 1000 articles"):
        count_articles(io.BufferedReader(stream), "txt", 1000)
    assert stream.read_bytes < 64 * 1024  # a few buffers, not the whole (endless) file


def test_long_lines_and_texts_empty_once_cleaned() -> None:
    with pytest.raises(PayloadTooLargeError, match="line 2 is longer than 100 characters"):
        count_articles(io.BytesIO(b"ok\n" + b"x" * 500 + b"\n"), "txt", 10, max_line_chars=100)
    with pytest.raises(InvalidInputError, match="CSV line 2 has no text"):
        parse_articles(b"text\n<br>\n", "csv", 10)
    assert parse_articles(b"<p></p>\nStocks #55296; rally\n", "txt", 10) == [Row("1", "Stocks #55296; rally")]


def test_jsonl_escapes_cannot_smuggle_surrogates_or_controls() -> None:
    [row] = parse_articles(b'{"id": "\\u0000x", "text": "Stocks \\ud800 rally\\u001b"}\n', "jsonl", 10)
    assert row == Row(" x", "Stocks   rally ")
    (row.id + row.title).encode("utf-8")
