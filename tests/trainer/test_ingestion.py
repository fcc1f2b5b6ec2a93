"""Stage 1: every source (folder with/without header, zip, S3 zip and folder, hf offline) and its errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from agnews_core.drift import build_vocabulary
from agnews_core.errors import InvalidInputError, StorageError
from agnews_core.text import model_input
from agnews_trainer.ingestion import DataCard, ingest, load_ingested, read_agnews_csv, read_eval_data
from trainer_helpers import synthetic_rows, write_agnews_folder, write_csv


def _zip(folder: Path, dest: Path, inner: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"{inner}{path.name}")
    return dest


def test_folder_with_header(agnews_folder: Path, tmp_path: Path) -> None:
    result = ingest(str(agnews_folder), tmp_path / "out")
    card = result.data_card
    assert card.rows == {"train": 200, "test": 80}
    assert card.per_class["train"] == {"World": 50, "Sports": 50, "Business": 50, "Sci/Tech": 50}
    assert card.has_header == {"train": True, "test": True}
    assert len(card.content_hash) == 64 and set(card.split_hashes) == {"train", "test"}
    for name in ("train.parquet", "test.parquet", "data_card.json", "manifest.json"):
        assert (tmp_path / "out" / name).is_file()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stage"] == "ingestion" and "data_card.json" in manifest["outputs"]
    frames, loaded = load_ingested(tmp_path / "out")
    assert loaded == DataCard.model_validate_json((tmp_path / "out" / "data_card.json").read_text())
    assert list(frames["train"].columns) == ["row", "label", "title", "description"]
    # The unknown_words drift reference: the train split's vocabulary, the held-out test split measured on it.
    vocabulary = (tmp_path / "out" / "vocabulary.txt").read_text().split()
    inputs = [model_input(t, d) for t, d in zip(frames["train"]["title"], frames["train"]["description"], strict=True)]
    assert vocabulary == build_vocabulary(inputs) and card.vocabulary_words == len(vocabulary) > 50
    assert sum(card.unknown_words["test"].values()) == 80


def test_header_or_not_gives_the_same_data_and_hash(tmp_path: Path) -> None:
    with_header = ingest(str(write_agnews_folder(tmp_path / "h", header=True)), tmp_path / "o1")
    without = ingest(str(write_agnews_folder(tmp_path / "n", header=False)), tmp_path / "o2")
    assert without.data_card.has_header == {"train": False, "test": False}
    assert with_header.data_card.content_hash == without.data_card.content_hash
    a, b = pd.read_parquet(tmp_path / "o1/train.parquet"), pd.read_parquet(tmp_path / "o2/train.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_doubled_quotes_and_backslashes_are_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('3,"Wall St. \\""Bears\\"" claw back","Reuters - Short-sellers, Wall Street\'s dwindling\\band"\n')
    frame, header = read_agnews_csv(path)
    assert not header
    assert frame.loc[0, "title"] == 'Wall St. \\"Bears\\" claw back'
    assert frame.loc[0, "description"] == "Reuters - Short-sellers, Wall Street's dwindling\\band"
    assert frame.loc[0, "label"] == "3" and frame.loc[0, "row"] == 1


def test_kaggle_header_names_and_two_column_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('Class Index,Title,Description\n1,"A title","A description"\n2,"only a text"\n')
    frame, header = read_agnews_csv(path)
    assert header
    assert frame["title"].tolist() == ["A title", ""]
    assert frame["description"].tolist() == ["A description", "only a text"]


@pytest.mark.parametrize("inner", ["", "ag_news_csv/"])
def test_local_zip(agnews_folder: Path, tmp_path: Path, inner: str) -> None:
    archive = _zip(agnews_folder, tmp_path / "agnews.zip", inner)
    result = ingest(str(archive), tmp_path / "out")
    direct = ingest(str(agnews_folder), tmp_path / "direct")
    assert result.data_card.content_hash == direct.data_card.content_hash
    assert result.data_card.files["train"] == f"{archive}:train.csv"
    assert not (tmp_path / "out" / ".scratch").exists()


def test_s3_zip_and_s3_folder(agnews_folder: Path, tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    client = s3_server.client()
    client.upload_file(str(_zip(agnews_folder, tmp_path / "a.zip")), s3_bucket, "datasets/agnews.zip")
    for name in ("train.csv", "test.csv", "classes.txt"):
        client.upload_file(str(agnews_folder / name), s3_bucket, f"raw/agnews/{name}")
    expected = ingest(str(agnews_folder), tmp_path / "direct").data_card.content_hash

    from_zip = ingest(f"s3://{s3_bucket}/datasets/agnews.zip", tmp_path / "z", s3_endpoint_url=s3_server.endpoint_url)
    from_folder = ingest(f"s3://{s3_bucket}/raw/agnews/", tmp_path / "f", s3_endpoint_url=s3_server.endpoint_url)
    assert from_zip.data_card.content_hash == expected == from_folder.data_card.content_hash

    with pytest.raises(InvalidInputError, match=r"missing\.zip"):
        ingest(f"s3://{s3_bucket}/missing.zip", tmp_path / "m", s3_endpoint_url=s3_server.endpoint_url)


def test_s3_unreachable_is_a_storage_error(tmp_path: Path) -> None:
    from stack import free_port

    with pytest.raises(StorageError, match="unreachable"):
        ingest("s3://bucket/agnews.zip", tmp_path / "o", s3_endpoint_url=f"http://127.0.0.1:{free_port()}")


def test_hf_source_fails_fast_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InvalidInputError, match=r"offline.*pass a Kaggle-layout folder"):
        ingest("hf:fancyzhx/ag_news", tmp_path / "o")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('1,"a","b"\n2,"c","d","e"\n', r"train.csv row 2 \(line 2\): malformed CSV, expected 3 fields"),
        ('1,"a","b"\n2,"unterminated\n', r"train.csv line \d+: malformed CSV"),
        ("", "train.csv holds no data rows"),
    ],
)
def test_malformed_csv_names_file_and_row(tmp_path: Path, content: str, message: str) -> None:
    folder = write_agnews_folder(tmp_path / "d")
    (folder / "train.csv").write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        ingest(str(folder), tmp_path / "o")
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_missing_sources(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        ingest(str(tmp_path / "nope"), tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"has no train\.csv"):
        ingest(str(tmp_path / "empty"), tmp_path / "o")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError, match="not a valid zip"):
        ingest(str(tmp_path / "bad.zip"), tmp_path / "o")


def test_classes_file_in_another_order_is_refused(agnews_folder: Path, tmp_path: Path) -> None:
    (agnews_folder / "classes.txt").write_text("Sports\nWorld\nBusiness\nSci/Tech\n")
    with pytest.raises(InvalidInputError, match=r"classes\.txt lists classes"):
        ingest(str(agnews_folder), tmp_path / "o")


def test_eval_data_from_a_csv_file_or_folder(agnews_folder: Path, tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "eval.csv", synthetic_rows(12, seed=3), header=False)
    frame, name = read_eval_data(str(csv_file))
    assert (len(frame), name) == (12, "eval.csv")
    frame, name = read_eval_data(str(agnews_folder))
    assert (len(frame), name) == (80, "test.csv")


def test_zip_bomb_is_refused_before_extraction(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.csv", b"1," * (8 << 20))  # 16 MiB of one pattern: a ratio far above 200
        zf.writestr("test.csv", b"1,a,b\n")
    with pytest.raises(InvalidInputError, match=r"the limits are .* a ratio of 200"):
        ingest(str(archive), tmp_path / "out")
    assert not (tmp_path / "out" / ".scratch" / "extracted" / "train.csv").exists()
