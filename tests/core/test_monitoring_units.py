"""The pure and local parts of monitoring: the divergence score and the batched record log."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
import redis
from agnews_core import recordlog
from agnews_core.drift import (
    LiveCounts,
    build_vocabulary,
    js_divergence,
    unknown_bucket,
    unknown_histogram,
    unknown_share,
)
from agnews_core.recordlog import RecordLog, days, read_day
from agnews_core.storage import ArtifactStore, LocalStore
from redis.backoff import NoBackoff
from redis.retry import Retry


def test_js_divergence_bounds_and_the_sports_only_figure() -> None:
    balanced = {"World": 25, "Sports": 25, "Business": 25, "Sci/Tech": 25}
    assert js_divergence(balanced, {"World": 1, "Sports": 1, "Business": 1, "Sci/Tech": 1}) == pytest.approx(0.0)
    assert js_divergence({"World": 10}, {"Sports": 3}) == pytest.approx(1.0)
    # The figure docs/monitoring.md and the alert threshold are based on: only Sports against AG News' mix.
    assert js_divergence({"Sports": 500}, balanced) == pytest.approx(0.5488, abs=1e-4)
    assert js_divergence({}, balanced) == 0.0
    assert js_divergence({"Sports": 2, "World": 1}, balanced) == pytest.approx(
        js_divergence(balanced, {"Sports": 2, "World": 1})
    )


def test_the_unknown_word_share_counts_letters_only_against_words_seen_twice() -> None:
    vocabulary = build_vocabulary(["Oil prices rise", "oil PRICES fall in 2004", "Rise of the machines"])
    assert vocabulary == ["oil", "prices", "rise"]  # "fall", "machines": seen once; "2004": no letters
    known = frozenset(vocabulary)
    assert unknown_share("Oil prices rise 12%", known) == 0.0  # numbers are no vocabulary shift
    assert unknown_share("Oil prices collapse", known) == pytest.approx(1 / 3)
    assert unknown_share("Ölpreise steigen", known) == 1.0  # letters beyond ASCII are words too
    assert unknown_share("42 -- 7", known) is None
    edges = [(0.0, "<2%"), (0.0199, "<2%"), (0.02, "2%-5%"), (0.07, "5%-10%"), (0.1, "10%-20%")]
    edges += [(0.39, "20%-40%"), (0.4, "40%+"), (1.0, "40%+"), (None, "no words")]
    for share, bucket in edges:
        assert unknown_bucket(share) == bucket, share
    histogram = unknown_histogram(["oil prices", "oil deal", "1 2 3"], known)
    assert list(histogram) == ["no words", "<2%", "2%-5%", "5%-10%", "10%-20%", "20%-40%", "40%+"]
    assert histogram == {"no words": 1, "<2%": 1, "2%-5%": 0, "5%-10%": 0, "10%-20%": 0, "20%-40%": 0, "40%+": 1}


def _log(store: ArtifactStore, **kwargs: object) -> RecordLog[dict[str, object]]:
    return RecordLog(store, "things", lambda item: [item], **kwargs)  # type: ignore[arg-type]


def test_records_are_partitioned_by_day_and_read_back_with_pandas(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    log = _log(store, flush_interval_s=60)
    log.start()
    for i in range(5):
        assert log.put({"time": f"2026-12-0{1 + i % 2}T10:00:00Z", "n": i})
    log.close()  # writes what is left
    assert days(store, "things") == ["2026-12-01", "2026-12-02"]
    assert sorted(r["n"] for r in read_day(store, "things", "2026-12-01")) == [0, 2, 4]
    files = sorted((tmp_path / "store" / "things" / "date=2026-12-02").glob("*.jsonl"))
    frame = pd.concat([pd.read_json(f, lines=True) for f in files])
    assert sorted(frame["n"]) == [1, 3]
    assert log.written == 5 and log.dropped == 0


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    log = _log(LocalStore(tmp_path), max_pending=3)  # not started: nothing drains the queue
    assert [log.put({"n": i}) for i in range(5)] == [True, True, True, False, False]
    assert log.dropped == 2


def test_a_failed_write_keeps_its_records_for_the_next_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    log = _log(LocalStore(blocker))
    log.put({"time": "2026-12-02T00:00:00Z", "n": 1})
    log._drain()
    assert log.flush() == 0 and log.failed_flushes == 1  # a real OSError from the file system
    log.store = LocalStore(tmp_path / "good")
    assert log.flush() == 1
    line = next((tmp_path / "good" / "things" / "date=2026-12-02").glob("*.jsonl")).read_text()
    assert json.loads(line)["n"] == 1


def test_a_failing_hook_is_paused_instead_of_retried_on_every_batch(tmp_path: Path, monkeypatch) -> None:
    """Redis down: one connection attempt per pause (0.5 s doubling), not one per request; no record lost."""
    monkeypatch.setattr(recordlog, "HOOK_PAUSE_S", 0.3)
    with socket.socket() as sock:  # a port nothing listens on: every connect is refused, for real
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    counts = LiveCounts(redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0)), "label_mix")
    calls: list[int] = []

    def hook(records: list[dict[str, object]]) -> None:
        calls.append(len(records))
        counts.add(("v1", str(r["label"]), 0.0) for r in records)

    log = _log(LocalStore(tmp_path), on_records=[hook])
    for i in range(3):
        log.put({"time": "2026-12-03T00:00:00Z", "label": "Sports", "n": i})
        log._drain()
    assert calls == [1] and log.unhooked == 3  # tried once, then skipped while paused
    time.sleep(0.35)
    log.put({"time": "2026-12-03T00:00:00Z", "label": "Sports", "n": 3})
    log._drain()
    assert calls == [1, 1] and log.unhooked == 4  # tried again after the pause, still refused
    assert log._hook_paused_until[0] - time.monotonic() > 0.4  # and the next pause is twice as long
    assert log.flush() == 4  # the durable log has every record


def test_the_log_writes_to_s3_too(s3_server: object, s3_bucket: str) -> None:
    from agnews_core.storage import open_store

    store = open_store(f"s3://{s3_bucket}/agnews", s3_endpoint_url=s3_server.endpoint_url)  # type: ignore[attr-defined]
    log = _log(store)  # type: ignore[arg-type]
    for i in range(3):
        log.put({"time": "2026-12-02T08:00:00Z", "n": i})
    log._drain()
    assert log.flush() == 3
    assert days(store, "things") == ["2026-12-02"]
    assert sorted(r["n"] for r in read_day(store, "things", "2026-12-02")) == [0, 1, 2]
