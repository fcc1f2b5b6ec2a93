"""A bounded, batched, day-partitioned JSONL log on an artifact store, written by one background thread.

What the prediction log (inference) and the feedback log (gateway) share. Guarantees:
- `put` never blocks and never does I/O: it appends to a bounded queue, or drops the item (counted) when the
  queue is full, so a slow or down store can cost records but never a request's latency.
- Records are written in batches, one new object per day per flush (`<prefix>/date=YYYY-MM-DD/<name>.jsonl`):
  S3 has no append, and one object per flush keeps every object immutable. Readable as
  `pandas.read_json(path, lines=True)`, or all of a day with `read_day`.
- A failed write keeps its records for the next flush, up to `max_pending` (the oldest are dropped past that).
- `close()` writes what is left.
- A hook that fails (Redis down) is paused, 0.5 s doubling to 10 s, instead of being retried on every batch:
  a connection attempt per request would take the CPU the model and the event loop need, for nothing. The
  records a paused hook misses are counted (`unhooked`); the durable log still gets them.
Retention is the store's: a day partition is a prefix, so a bucket lifecycle rule (or deleting a
`date=` folder) removes whole days.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from agnews_core.errors import AgnewsError
from agnews_core.storage import ArtifactStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Record = dict[str, Any]
HOOK_PAUSE_S = 0.5  # first pause of a failing hook; doubles per failure in a row
HOOK_PAUSE_MAX_S = 10.0


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordLog(Generic[T]):
    """Items in (cheap to make on the request path), records out (built in the thread by `to_records`).

    `on_records` hooks run in the thread on every drained batch, before the records wait for a flush (the
    prediction index and the drift windows use them: they must see a prediction within milliseconds).
    """

    def __init__(
        self,
        store: ArtifactStore,
        prefix: str,
        to_records: Callable[[T], Iterable[Record]],
        *,
        flush_rows: int = 1000,
        flush_interval_s: float = 5.0,
        max_pending: int = 100_000,
        on_records: Iterable[Callable[[list[Record]], None]] = (),
        coalesce_s: float = 0.0,
    ) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.to_records = to_records
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.on_records = list(on_records)
        self.coalesce_s = coalesce_s
        """After the first item, wait this long for company: one Redis round trip and one wake-up per batch
        instead of per request, which is what keeps the thread off the event loop's GIL at low concurrency."""
        self.written = 0
        self.dropped = 0
        self.failed_flushes = 0
        self.unhooked = 0  # records a paused (failing) hook did not see
        self._hook_failures = [0] * len(self.on_records)
        self._hook_paused_until = [0.0] * len(self.on_records)
        self._queue: queue.Queue[T] = queue.Queue(maxsize=max_pending)
        self._pending: list[Record] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._seq = 0

    # -- request side --------------------------------------------------------------------------------------
    def put(self, item: T) -> bool:
        """Queue one item; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"recordlog-{self.prefix}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drain()
        self.flush()

    # -- the thread ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.is_set():
            wait = max(0.01, min(0.25, self.flush_interval_s - (time.monotonic() - last_flush)))
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                first = None
            if first is not None:
                if self.coalesce_s > 0:
                    self._stop.wait(self.coalesce_s)
                self._take([first])
            self._drain()
            if len(self._pending) >= self.flush_rows or time.monotonic() - last_flush >= self.flush_interval_s:
                self.flush()
                last_flush = time.monotonic()

    def _drain(self) -> None:
        items: list[T] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if items:
            self._take(items)

    def _take(self, items: list[T]) -> None:
        records: list[Record] = []
        for item in items:
            try:
                records.extend(self.to_records(item))
            except Exception:  # one bad item must not stop the log
                log.exception("could not turn an item into log records")
        self._run_hooks(records)
        self._pending.extend(records)
        overflow = len(self._pending) - self.max_pending
        if overflow > 0:
            del self._pending[:overflow]
            self.dropped += overflow

    def _run_hooks(self, records: list[Record]) -> None:
        now = time.monotonic()
        for i, hook in enumerate(self.on_records):
            if now < self._hook_paused_until[i]:
                self.unhooked += len(records)
                continue
            try:
                hook(records)
            except Exception:  # a hook (Redis down, say) must not cost the durable log its records
                self._hook_failures[i] += 1
                pause = min(HOOK_PAUSE_MAX_S, HOOK_PAUSE_S * 2 ** (self._hook_failures[i] - 1))
                self._hook_paused_until[i] = time.monotonic() + pause  # from the failure: a refusal can be slow
                self.unhooked += len(records)
                name = getattr(hook, "__qualname__", hook)
                log.warning("record hook %s failed; paused for %.1f s", name, pause, exc_info=True)
            else:
                self._hook_failures[i] = 0

    def flush(self) -> int:
        """Write the pending records (one object per day); the number written."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        by_day: dict[str, list[Record]] = {}
        for record in batch:
            by_day.setdefault(str(record.get("time", utc_now_iso()))[:10], []).append(record)
        written = 0
        for day, records in by_day.items():
            self._seq += 1
            stamp = datetime.now(UTC).strftime("%H%M%S%f")
            key = f"{self.prefix}/date={day}/{stamp}-{self._instance}-{self._seq:06d}.jsonl"
            data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
            try:
                self.store.put_bytes(key, data.encode("utf-8"))
                written += len(records)
            except (AgnewsError, OSError) as exc:
                self.failed_flushes += 1
                log.warning("could not write %d records to %s (%s); kept for the next flush", len(records), key, exc)
                self._pending.extend(records)
        self.written += written
        return written


def read_day(store: ArtifactStore, prefix: str, day: str) -> list[Record]:
    """Every record of one day partition (for tests, retraining and notebooks without pandas)."""
    out: list[Record] = []
    for key in store.list(f"{prefix.strip('/')}/date={day}"):
        if key.endswith(".jsonl"):
            out.extend(json.loads(line) for line in store.get_bytes(key).decode("utf-8").splitlines() if line)
    return out


def days(store: ArtifactStore, prefix: str) -> list[str]:
    """The day partitions present, oldest first."""
    found = {key.split("/date=", 1)[1][:10] for key in store.list(prefix.strip("/")) if "/date=" in key}
    return sorted(found)
