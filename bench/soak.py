"""`make soak`: a bounded soak of the whole stack under faults; prints a table and one JSON line. Not a test.

    .venv/bin/python bench/soak.py [--jobs 300] [--duration 180] [--kills 3] [--redis-restarts 1]

For `--duration` seconds it submits `--jobs` batch jobs (random sizes, every row with its own id) and keeps a
steady classify load (`--classify-rps`), while the batch worker is SIGKILLed `--kills` times and Redis is
stopped and restarted `--redis-restarts` times, evenly spread. Then it waits for every job and checks each
result: succeeded, exactly its rows, each row once. A job not succeeded counts as lost; a row seen twice (or a
job whose result holds more rows than sent) as duplicated. Real processes throughout (tests/stack.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/stack.py: the stack launcher the stack tests use


def _classify_load(stack: Any, rps: float, stop: threading.Event, statuses: Counter[str]) -> None:
    with stack.client(timeout=10.0) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                statuses[
                    str(client.post("/v1/classify", json={"texts": ["Stocks rally as oil falls"]}).status_code)
                ] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            stop.wait(max(0.0, 1.0 / rps - (time.monotonic() - started)))


def _submit(stack: Any, sizes: list[int], duration: float, jobs: dict[str, int], errors: Counter[str]) -> None:
    gap = duration / max(1, len(sizes))
    with stack.client(timeout=30.0) as client:
        for i, n in enumerate(sizes):
            body = "\n".join(f"soak article {i} row {j}: markets and matches" for j in range(n)).encode()
            for _ in range(60):  # Redis may be down right now: the gateway answers 503, so try again
                try:
                    response = client.post("/v1/batch-jobs", files={"file": (f"s{i}.txt", body)})
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    time.sleep(1.0)
                    continue
                if response.status_code == 202:
                    jobs[response.json()["id"]] = n
                    break
                errors[str(response.status_code)] += 1
                time.sleep(1.0)
            time.sleep(gap)


def _chaos(stack: Any, kills: int, restarts: int, duration: float, log: list[tuple[float, str]], t0: float) -> None:
    events = ["kill"] * kills + ["redis"] * restarts
    random.Random(7).shuffle(events)
    for k, event in enumerate(events, start=1):
        time.sleep(max(0.0, t0 + duration * k / (len(events) + 1) - time.monotonic()))
        if event == "kill":
            stack.kill("batch")
            stack.start_worker("batch")
        else:
            stack.stop_redis()
            time.sleep(3.0)
            stack.start_redis()
        log.append((time.monotonic() - t0, event))


def _check(client: httpx.Client, job_id: str, n: int) -> tuple[str, int, int]:
    """(state, rows missing, rows duplicated) of one finished job."""
    job = client.get(f"/v1/jobs/{job_id}").json()
    if job["state"] != "succeeded":
        return job["state"], n, 0
    ids = Counter(r["id"] for r in csv.DictReader(io.StringIO(client.get(f"/v1/jobs/{job_id}/result").text)))
    expected = {str(i) for i in range(1, n + 1)}
    missing = len(expected - set(ids))
    duplicated = sum(c - 1 for c in ids.values() if c > 1) + len(set(ids) - expected)
    return "succeeded", missing, duplicated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--min-rows", type=int, default=20)
    parser.add_argument("--max-rows", type=int, default=400)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of submitting and faults")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--classify-rps", type=float, default=5.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    from stack import Stack, wait_job

    rng = random.Random(42)
    sizes = [rng.randint(args.min_rows, args.max_rows) for _ in range(args.jobs)]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agnews-soak-"))
    fast = {"GATEWAY_BATCH_CHUNK_PAUSE_S": "0", "GATEWAY_BATCH_CHUNK_SIZE": "64"}
    with Stack.start(workdir, champion="tfidf", training=False, batch_env=fast) as stack:
        jobs: dict[str, int] = {}
        statuses: Counter[str] = Counter()
        submit_errors: Counter[str] = Counter()
        events: list[tuple[float, str]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        load = threading.Thread(target=_classify_load, args=(stack, args.classify_rps, stop, statuses), daemon=True)
        chaos = threading.Thread(
            target=_chaos, args=(stack, args.kills, args.redis_restarts, args.duration, events, t0), daemon=True
        )
        load.start()
        chaos.start()
        _submit(stack, sizes, args.duration, jobs, submit_errors)
        chaos.join()
        with stack.client(timeout=30.0) as client:
            for job_id in jobs:
                with contextlib.suppress(TimeoutError):  # counted as lost below
                    wait_job(client, job_id, timeout=600)
            drained = time.monotonic() - t0
            stop.set()
            load.join(15)
            checks = [_check(client, job_id, n) for job_id, n in jobs.items()]
            lost = {job_id: state for (job_id, (state, _, _)) in zip(jobs, checks, strict=True) if state != "succeeded"}
            attempts = Counter(client.get(f"/v1/jobs/{job_id}").json()["attempts"] for job_id in jobs)
    figures = {
        "jobs_submitted": len(jobs),
        "jobs_not_accepted": args.jobs - len(jobs),
        "jobs_succeeded": sum(1 for state, _, _ in checks if state == "succeeded"),
        "jobs_lost": sum(1 for state, _, _ in checks if state != "succeeded"),
        "rows_sent": sum(jobs.values()),
        "rows_missing": sum(m for _, m, _ in checks),
        "rows_duplicated": sum(d for _, _, d in checks),
        "jobs_started_more_than_once": sum(v for k, v in attempts.items() if k > 1),
        "batch_worker_kills": sum(1 for _, e in events if e == "kill"),
        "redis_restarts": sum(1 for _, e in events if e == "redis"),
        "classify_requests": sum(statuses.values()),
        "classify_ok": statuses.get("200", 0),
        "classify_other": {k: v for k, v in statuses.items() if k != "200"},
        "submit_retries": dict(submit_errors),
        "seconds_until_all_done": round(drained, 1),
        "lost_jobs": lost,
    }
    print(
        f"\nsoak: {args.jobs} batch jobs over {args.duration:.0f}s, faults at "
        + ", ".join(f"{t:.0f}s {e}" for t, e in events)
    )
    for key, value in figures.items():
        print(f"  {key:<30} {value}")
    print(json.dumps({"soak": figures}))
    ok = figures["jobs_lost"] == 0 and figures["rows_missing"] == 0 and figures["rows_duplicated"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
