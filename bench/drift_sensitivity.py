"""How the unknown_words drift score responds as a feed switches language, against its 0 % baseline.

Live traffic is the first 2,000 rows of test.csv with a growing share replaced by the e2e test's
foreign-language texts (tests/e2e/test_monitoring_quality.py: foreign_texts); the reference is what the
trainer's ingestion writes: all of test.csv against the words seen twice in train.csv. AgnewsDataDrift
fires above 0.2 (helm/agnews/files/prometheus/agnews-rules.yaml).

    .venv/bin/python bench/drift_sensitivity.py [--data ../shared/data/agnews]

The last line is one JSON object: foreign share -> Jensen-Shannon score in bits.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests"))


def model_inputs(path: Path) -> list[str]:
    from agnews_core.text import model_input

    with open(path, newline="", encoding="utf-8") as fh:
        return [model_input(row[1], row[2]) for row in csv.reader(fh) if row and row[0].isdigit()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "agnews")
    args = parser.parse_args()
    from agnews_core.drift import build_vocabulary, js_divergence, unknown_histogram
    from test_monitoring_quality import foreign_texts

    test = model_inputs(args.data / "test.csv")
    vocabulary = frozenset(build_vocabulary(model_inputs(args.data / "train.csv")))
    reference = unknown_histogram(test, vocabulary)
    scores = {}
    for share in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0):
        foreign = int(2000 * share)
        live = test[: 2000 - foreign] + foreign_texts(foreign)
        scores[f"{share:.0%}"] = round(js_divergence(unknown_histogram(live, vocabulary), reference), 3)
        print(f"{share:>4.0%} foreign: unknown_words drift {scores[f'{share:.0%}']:.3f}", flush=True)
    print(json.dumps({"vocabulary_words": len(vocabulary), "scores": scores}))


if __name__ == "__main__":
    main()
