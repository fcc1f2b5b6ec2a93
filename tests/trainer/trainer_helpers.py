"""Helpers for trainer tests: synthetic AG News folders and a tiny BERT built from a config, all offline.

The synthetic data is easy on purpose (each class has its own vocabulary) so a tiny model learns it in a few
steps; it still carries the real files' quirks: doubled quotes, backslashes, `#39;`-style entities.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path

SHARED_DATA = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "agnews").resolve()

CLASS_WORDS: dict[int, list[str]] = {
    1: ["election", "minister", "embassy", "treaty", "rebels", "parliament", "border", "refugees", "envoy", "summit"],
    2: ["goal", "coach", "playoff", "striker", "tournament", "season", "league", "champion", "pitcher", "quarterback"],
    3: ["shares", "profit", "merger", "investors", "earnings", "stocks", "market", "bank", "quarterly", "revenue"],
    4: ["software", "internet", "chip", "researchers", "nasa", "browser", "linux", "wireless", "processor", "genome"],
}
FILLER = ["the", "a", "on", "after", "with", "over", "new", "says", "report", "week", "today", "amid"]
CLASSES = ("World", "Sports", "Business", "Sci/Tech")

Row = tuple[str, str, str]


def synthetic_rows(n: int, seed: int, start: int = 0) -> list[Row]:
    """n rows (label, title, description), classes in turn; `start` keeps splits from sharing texts."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(start, start + n):
        label = i % 4 + 1
        words = CLASS_WORDS[label]
        title = " ".join(rng.sample(words, 2) + rng.sample(FILLER, 1)).capitalize()
        body = rng.sample(words, 4) + rng.sample(FILLER, 4)
        rng.shuffle(body)
        description = " ".join(body) + f" story{i}."
        if i % 7 == 0:
            description = f'He said "{words[0]}" #39;s big\\news' + " " + description
        if i % 11 == 0:
            title += " quot;update quot;"
        rows.append((str(label), title, description))
    return rows


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: bool = True) -> Path:
    """A Kaggle-style CSV: label bare, title and description always quoted, inner quotes doubled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        if header:
            fh.write("label,title,description\n")
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        for row in rows:
            label, *texts = row
            fh.write(f"{label},")
            writer.writerow(texts)
    return path


def write_agnews_folder(
    dest: Path,
    n_train: int = 200,
    n_test: int = 80,
    *,
    header: bool = True,
    seed: int = 0,
    test_seed: int | None = None,
    classes_txt: bool = True,
) -> Path:
    """A folder in the Kaggle layout; the test split depends only on `test_seed` (default: `seed`)."""
    write_csv(dest / "train.csv", synthetic_rows(n_train, seed), header)
    write_csv(
        dest / "test.csv", synthetic_rows(n_test, seed if test_seed is None else test_seed, start=100_000), header
    )
    if classes_txt:
        (dest / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return dest


def build_tiny_bert(dest: Path, corpus: Sequence[str]) -> Path:
    """A random-weight BERT (hidden 32, 2 layers) and a WordPiece tokenizer trained on `corpus`, offline."""
    from fixtures_models import build_tiny_transformer

    return build_tiny_transformer(dest, corpus=corpus, vocab_size=400, max_length=64)
