"""Stage 1, ingestion: any AG News source in, a canonical dataset (parquet) and a data card out.

Sources: a Kaggle-layout folder (train.csv, test.csv, optional classes.txt; header row or not), a zip of that
layout (local, or s3://bucket/key.zip), an S3 folder (s3://bucket/prefix/), or a Hugging Face dataset
(`hf:fancyzhx/ag_news`). Cells are kept as read (label as text, AG News escapes intact): judging them is
validation's job, cleaning them is transformation's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from agnews_core.drift import VOCABULARY_FILE, build_vocabulary, length_histogram, unknown_histogram
from agnews_core.errors import InvalidInputError, NotFoundError, StorageError
from agnews_core.labels import LABEL_NAMES
from agnews_core.storage import open_store
from agnews_core.text import model_input
from pydantic import BaseModel, Field

from agnews_trainer.manifest import recording, write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
COLUMNS = ("row", "label", "title", "description")
_HEADER_FIRST_CELLS = {"label", "labels", "class", "class index", "class_index", "classindex", "category", "target"}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# A data zip can come from a training job: cap what extracting it may write (the real AG News train.csv is
# ~30 MB, compressing ~3x), so a zip bomb fails with a message instead of filling the worker's disk.
ZIP_MAX_FILE_BYTES = 2 << 30
ZIP_MAX_RATIO = 200


class DataCard(BaseModel):
    """What the data is: where it came from, how much of each class, and a hash that identifies it."""

    source: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    files: dict[str, str] = Field(default_factory=dict, description="split -> source file")
    has_header: dict[str, bool] = Field(default_factory=dict)
    rows: dict[str, int] = Field(default_factory=dict)
    per_class: dict[str, dict[str, int]] = Field(default_factory=dict)
    split_hashes: dict[str, str] = Field(default_factory=dict)
    content_hash: str = ""
    classes: list[str] = Field(default_factory=lambda: list(LABEL_NAMES))
    text_length: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="split -> rows per model-input length bucket (the drift reference)"
    )
    unknown_words: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="split -> rows per share of words outside the training vocabulary (vocabulary.txt): the "
        "unknown_words drift reference, measured on the held-out test split",
    )
    vocabulary_words: int = Field(0, description="words in vocabulary.txt")
    feedback: dict[str, Any] | None = Field(None, description="feedback rows added to train (feedback_rows.py)")


@dataclass
class IngestResult:
    out_dir: Path
    data_card: DataCard

    def split_path(self, split: str) -> Path:
        return self.out_dir / f"{split}.parquet"


# -- CSV ------------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a folder, expected a CSV file") from None
    except UnicodeDecodeError:
        # Old copies of AG News circulate in Windows-1252; decoding them beats refusing them.
        return path.read_text(encoding="cp1252", errors="replace")


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].strip().lower() in _HEADER_FIRST_CELLS


def read_agnews_csv(path: Path, name: str | None = None) -> tuple[pd.DataFrame, bool]:
    """Rows of an AG News CSV (label, title, description; header optional) and whether it had a header.

    Quoting is standard CSV (inner quotes doubled); backslashes are text, not escapes, because AG News uses
    them for line breaks and `\\""` must stay a backslash followed by a quote.
    """
    name = name or path.name
    reader = csv.reader(_read_text(path).splitlines(keepends=True), strict=True)
    records: list[tuple[int, str, str, str]] = []
    has_header = False
    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if not records and not has_header and _is_header(cells):
                has_header = True
                if len(cells) < 3:
                    raise InvalidInputError(
                        f"{name} line 1: header names {len(cells)} column(s), need label,title,description"
                    )
                continue
            if len(cells) == 2:  # no title column: the whole text is the description
                cells = [cells[0], "", cells[1]]
            if len(cells) != 3:
                raise InvalidInputError(
                    f"{name} row {len(records) + 1} (line {reader.line_num}): malformed CSV, expected 3 fields "
                    f"(label,title,description), found {len(cells)}"
                )
            records.append((len(records) + 1, cells[0].strip(), cells[1], cells[2]))
    except csv.Error as exc:
        raise InvalidInputError(f"{name} line {reader.line_num}: malformed CSV: {exc}") from None
    if not records:
        raise InvalidInputError(f"{name} holds no data rows")
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    return frame.astype({"row": "int64", "label": "string", "title": "string", "description": "string"}), has_header


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of (label, title, description) rows in order: the same data hashes the same from any source."""
    digest = hashlib.sha256()
    for label, title, description in zip(frame["label"], frame["title"], frame["description"], strict=True):
        digest.update(json.dumps([str(label), str(title), str(description)], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _check_classes_file(path: Path) -> None:
    names = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if [n.lower() for n in names] != [n.lower() for n in LABEL_NAMES]:
        raise InvalidInputError(
            f"{path} lists classes {names}; agnews expects {list(LABEL_NAMES)} in that order (label 1 first)"
        )


def _read_folder(folder: Path) -> tuple[dict[str, pd.DataFrame], dict[str, bool], dict[str, str]]:
    if not folder.is_dir():
        raise InvalidInputError(f"data folder {folder} does not exist")
    frames, headers, files = {}, {}, {}
    for split in SPLITS:
        path = folder / f"{split}.csv"
        if not path.is_file():
            raise InvalidInputError(f"{folder} has no {split}.csv (expected the Kaggle AG News layout)")
        frames[split], headers[split] = read_agnews_csv(path)
        files[split] = str(path)
    if (folder / "classes.txt").is_file():
        _check_classes_file(folder / "classes.txt")
    return frames, headers, files


# -- zip and S3 -----------------------------------------------------------------------------------------
def _extract_zip(archive: Path, dest: Path) -> Path:
    """Extract the layout's files from `archive` into `dest` (they may sit in a subfolder of the zip)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            wanted: dict[str, zipfile.ZipInfo] = {}
            for info in zf.infolist():
                base = Path(info.filename).name
                if base not in ("train.csv", "test.csv", "classes.txt") or info.filename.startswith("__MACOSX"):
                    continue
                # The shallowest copy wins when a zip holds the layout twice.
                if base not in wanted or len(info.filename) < len(wanted[base].filename):
                    wanted[base] = info
            for base in ("train.csv", "test.csv"):
                if base not in wanted:
                    raise InvalidInputError(f"{archive.name} holds no {base} (expected the Kaggle AG News layout)")
            dest.mkdir(parents=True, exist_ok=True)
            for base, info in wanted.items():
                if info.file_size > ZIP_MAX_FILE_BYTES or info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                    raise InvalidInputError(
                        f"{archive.name}: {info.filename} expands to {info.file_size} bytes from {info.compress_size}; "
                        f"the limits are {ZIP_MAX_FILE_BYTES} bytes and a ratio of {ZIP_MAX_RATIO}"
                    )
                # zipfile reads at most the declared size (and checks the CRC), so the header is binding
                with zf.open(info) as src, open(dest / base, "wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile:
        raise InvalidInputError(f"{archive} is not a valid zip file") from None
    return dest


def _fetch_s3(uri: str, dest: Path, endpoint_url: str | None, region: str | None) -> Path:
    """Download s3://bucket/key.zip (a file) or s3://bucket/prefix/ (a Kaggle folder) below `dest`."""
    parsed = urlparse(uri)
    key = parsed.path.strip("/")
    store = open_store(f"s3://{parsed.netloc}", s3_endpoint_url=endpoint_url, s3_region=region)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if key.endswith(".zip"):
            local = dest / Path(key).name
            store.get_file(key, local)
            return local
        folder = dest / "folder"
        for name in ("train.csv", "test.csv"):
            store.get_file(f"{key}/{name}" if key else name, folder / name)
        if store.exists(f"{key}/classes.txt" if key else "classes.txt"):
            store.get_file(f"{key}/classes.txt" if key else "classes.txt", folder / "classes.txt")
        return folder
    except NotFoundError as exc:
        raise InvalidInputError(f"data source {uri}: {exc}") from None


# -- Hugging Face ---------------------------------------------------------------------------------------
def _hf_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _read_hf(dataset_id: str) -> dict[str, pd.DataFrame]:
    offline = [v for v in _OFFLINE_VARS if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")]
    hint = "pass a Kaggle-layout folder or zip instead, e.g. --data ../shared/data/agnews"
    if offline:
        raise InvalidInputError(f"hf:{dataset_id} needs the Hugging Face Hub but {offline[0]} is set (offline); {hint}")
    if not _hf_reachable():
        raise InvalidInputError(f"hf:{dataset_id} needs the Hugging Face Hub, which cannot be reached; {hint}")
    import datasets  # heavy: only for this source

    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as exc:  # datasets raises many unrelated types; all mean "cannot use this id"
        raise InvalidInputError(f"cannot load hf:{dataset_id}: {exc}; {hint}") from None
    frames: dict[str, pd.DataFrame] = {}
    for split in SPLITS:
        if split not in loaded:
            raise InvalidInputError(f"hf:{dataset_id} has no {split!r} split")
        raw: pd.DataFrame = loaded[split].to_pandas()
        # HF ClassLabel ids are 0-3; the canonical dataset uses the Kaggle ids 1-4.
        labels = (raw["label"].astype("int64") + 1).astype(str)
        title = raw["title"] if "title" in raw else pd.Series([""] * len(raw))
        description = raw["description"] if "description" in raw else raw["text"]
        frames[split] = pd.DataFrame(
            {"row": range(1, len(raw) + 1), "label": labels, "title": title, "description": description}
        ).astype({"row": "int64", "label": "string", "title": "string", "description": "string"})
    return frames


# -- the stage ------------------------------------------------------------------------------------------
def load_source(
    source: str, scratch: Path, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, bool], dict[str, str]]:
    """Train and test frames from any supported source; `scratch` receives downloads and extracted zips."""
    if source.startswith("hf:"):
        frames = _read_hf(source[3:])
        return frames, dict.fromkeys(SPLITS, True), {s: f"{source}/{s}" for s in SPLITS}
    if source.startswith("s3://"):
        try:
            local = _fetch_s3(source, scratch / "download", s3_endpoint_url, s3_region)
        except StorageError as exc:
            raise StorageError(f"cannot fetch data {source}: {exc}") from None
    else:
        local = Path(source).expanduser()
        if not local.exists():
            raise InvalidInputError(f"data source {source} does not exist (a folder, .zip, s3://... or hf:<id>)")
    if local.is_file():
        if local.suffix.lower() != ".zip":
            raise InvalidInputError(f"data source {source} is a file; pass a Kaggle-layout folder or a .zip of it")
        local = _extract_zip(local, scratch / "extracted")
    frames, headers, files = _read_folder(local)
    if source.startswith("s3://") or not Path(source).is_dir():
        files = {split: f"{source}:{split}.csv" for split in SPLITS}
    return frames, headers, files


def per_class_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per class name; labels outside 1-4 are counted under 'invalid'."""
    counts = dict.fromkeys(LABEL_NAMES, 0)
    for raw, n in frame["label"].astype(str).str.strip().value_counts().items():
        label = str(raw)
        if label.isdigit() and 1 <= int(label) <= len(LABEL_NAMES):
            counts[LABEL_NAMES[int(label) - 1]] += int(n)
        else:
            counts["invalid"] = counts.get("invalid", 0) + int(n)
    return counts


def ingest(
    source: str, out_dir: Path, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> IngestResult:
    """Read `source`, write `out_dir/{train,test}.parquet` + data_card.json + manifest.json."""
    with recording(out_dir, "ingestion") as rec:
        rec.inputs = {"source": source}
        scratch = out_dir / ".scratch"
        try:
            frames, headers, files = load_source(source, scratch, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        card = DataCard(source=source, files=files, has_header=headers)
        for split, frame in frames.items():
            frame.to_parquet(out_dir / f"{split}.parquet", index=False)
            card.rows[split] = len(frame)
            card.per_class[split] = per_class_counts(frame)
            card.text_length[split] = text_length_counts(frame)
            card.split_hashes[split] = content_hash(frame)
        card.content_hash = hashlib.sha256("".join(card.split_hashes[s] for s in SPLITS).encode()).hexdigest()
        write_vocabulary(out_dir, frames, card)
        write_json(out_dir / "data_card.json", card.model_dump(mode="json"))
        rec.summary = {"rows": card.rows, "content_hash": card.content_hash}
        log.info("ingested %s: %s rows (hash %s)", source, card.rows, card.content_hash[:12])
    return IngestResult(out_dir=out_dir, data_card=card)


def text_length_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per model-input length bucket: what serving's input_length drift compares live traffic with."""
    return length_histogram(len(text) for text in _inputs(frame))


def _inputs(frame: pd.DataFrame) -> list[str]:
    return [model_input(t, d) for t, d in zip(frame["title"].fillna(""), frame["description"].fillna(""), strict=True)]


def write_vocabulary(out_dir: Path, frames: dict[str, pd.DataFrame], card: DataCard) -> None:
    """vocabulary.txt from the train split, and the test split's unknown-word shares against it (the card).

    Serving measures live texts against this very file (it is published with the model), so the reference
    and the live counts use one vocabulary.
    """
    vocabulary = build_vocabulary(_inputs(frames["train"]))
    (out_dir / VOCABULARY_FILE).write_text("".join(f"{word}\n" for word in vocabulary), encoding="utf-8")
    card.vocabulary_words = len(vocabulary)
    card.unknown_words = {"test": unknown_histogram(_inputs(frames["test"]), frozenset(vocabulary))}


def load_ingested(out_dir: Path) -> tuple[dict[str, pd.DataFrame], DataCard]:
    """Frames and data card of a finished ingestion folder (to run later stages on their own)."""
    card = DataCard.model_validate_json((out_dir / "data_card.json").read_text())
    frames = {split: pd.read_parquet(out_dir / f"{split}.parquet") for split in SPLITS}
    return frames, card


def read_eval_data(
    source: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Rows to evaluate on: a CSV file, or a Kaggle folder/zip's test.csv. Returns (frame, file name)."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() != ".zip":
        frame, _ = read_agnews_csv(path)
        return frame, path.name
    with tempfile.TemporaryDirectory(prefix="agnews-eval-") as scratch:
        frames, _, files = load_source(source, Path(scratch), s3_endpoint_url=s3_endpoint_url, s3_region=s3_region)
    return frames["test"], Path(files["test"]).name
