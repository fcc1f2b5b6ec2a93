"""`make bench-monitoring`: what the prediction log and a shadow challenger cost the champion's latency.

Prints figures; it is not a test. One run, three inference configurations against the same real stack
(tests/stack.py: Redis, inference, gateway), each measured with wrk (bench_serving.wrk) straight at inference
at concurrency 1 and 32, one AG News article per request, in interleaved rounds so machine drift hits all
alike (medians over rounds):

    off      INFERENCE_PREDICTION_LOG_RATE=0 (no ids, no log, no shadow)
    log      the prediction log at 100% (ids, Redis index and label mix, JSONL batches on the store)
    shadow   the log plus a second version in shadow at share 1.0, yielding to the champion (the default)
    shadow-eager  the same with INFERENCE_SHADOW_YIELD=false: the shadow scores at once, at nice +10 only

    .venv/bin/python bench/bench_monitoring.py [--duration 8] [--rounds 2] [--model minilm|tfidf]

Goals (issue 12): <= 5% added p50 with logging on; champion latency within 10% at c32 with the shadow on.
The default model is the embedded MiniLM encoder (a realistic forward pass, bench_serving.pick_model); tfidf
answers in well under a millisecond, so any fixed cost shows as a large share there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import REPO, articles, pick_model, wrk

sys.path.insert(0, str(REPO / "tests"))
log = logging.getLogger("bench_monitoring")

CONFIGS = {
    "off": {"INFERENCE_PREDICTION_LOG_RATE": "0"},
    "log": {"INFERENCE_PREDICTION_LOG_RATE": "1"},
    "shadow": {"INFERENCE_PREDICTION_LOG_RATE": "1", "INFERENCE_SHADOW_YIELD": "true"},
    "shadow-eager": {"INFERENCE_PREDICTION_LOG_RATE": "1", "INFERENCE_SHADOW_YIELD": "false"},
}


def restart_inference(stack: Any, env: dict[str, str]) -> None:
    stack.procs["inference"].stop()
    stack.inference_env.update(env)
    stack.start_inference()


def set_shadow(stack: Any, version: str | None, timeout: float = 120.0) -> None:
    """Put `version` in shadow at share 1.0 (None: stop it), and wait until inference scores with it."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30, headers=stack.admin_headers) as gw:
        current = gw.get("/v1/models/shadow").json()
        if version is None:
            if current:
                gw.delete(f"/v1/models/{current['version']}/shadow")
            return
        assert gw.post(f"/v1/models/{version}/shadow", json={"share": 1.0}).status_code == 200
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.inference_url, timeout=30) as inf:
        while "agnews_shadow_predictions_total{" not in inf.get("/metrics").text:
            if time.monotonic() > deadline:
                raise TimeoutError("inference did not start scoring with the shadow")
            inf.post("/v1/classify", json={"texts": ["warm up the shadow"]})
            time.sleep(0.5)


def shadow_counts(stack: Any) -> tuple[int, int]:
    """(scored, skipped because the shadow queue was full) so far, from inference's /metrics."""
    text = httpx.get(f"{stack.inference_url}/metrics", timeout=30).text
    scored = sum(float(m) for m in re.findall(r"^agnews_shadow_predictions_total\{.*\} (\S+)$", text, re.M))
    skipped = sum(float(m) for m in re.findall(r"^agnews_shadow_dropped_total (\S+)$", text, re.M))
    return int(scored), int(skipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", choices=["minilm", "tfidf"], default="minilm")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agnews-bench-monitoring-"))
    bodies = workdir / "bodies.jsonl"
    workdir.mkdir(parents=True, exist_ok=True)
    bodies.write_text("".join(json.dumps({"articles": [a]}) + "\n" for a in articles("test", 1000)))

    from fixtures_models import build_tiny_tfidf, publish_model
    from stack import Stack

    stack = Stack(
        workdir=workdir / "stack",
        inference_env={
            "INFERENCE_INTRA_OP_THREADS": str(os.cpu_count() or 2),
            "INFERENCE_POLL_INTERVAL_S": "1",
            # What the log and the shadow cost, not where admission starts shedding: on a CPU whose capacity
            # is under what c32 asks within 250 ms, part of the load would be answered by fast 429s (counted in
            # wrk's latency) and the configurations would no longer be compared on the same work.
            "INFERENCE_MAX_QUEUE_DELAY_MS": "10000",
            "INFERENCE_DEADLINE_MS": "30000",
        },
    )
    stack.workdir.mkdir(parents=True, exist_ok=True)
    try:
        stack.start_redis()
        if args.model == "minilm":
            model_dir, note = pick_model(None, workdir)
            champion = publish_model(stack.registry, model_dir, "transformers")
            challenger = publish_model(stack.registry, model_dir, "transformers", promote=False)
        else:
            note = "tiny tfidf fixture model"
            champion = stack.publish_champion("tfidf")
            challenger = publish_model(stack.registry, build_tiny_tfidf(workdir / "challenger"), "tfidf", promote=False)
        log.info("champion %s, shadow %s (%s)", champion, challenger, note)
        stack.start_inference()
        stack.start_gateway()
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            for name, env in CONFIGS.items():
                restart_inference(stack, env)
                set_shadow(stack, challenger if name.startswith("shadow") else None)
                wrk(stack.inference_url, 32, 2, bodies)  # warm-up
                for c in (1, 32):
                    before = shadow_counts(stack)
                    result = wrk(stack.inference_url, c, args.duration, bodies)
                    after = shadow_counts(stack)
                    result["shadow_scored"], result["shadow_skipped"] = (
                        a - b for a, b in zip(after, before, strict=True)
                    )
                    runs.setdefault((name, c), []).append(result)
                    log.info("round %d %s c=%d: %s", round_ + 1, name, c, result)
    finally:
        stack.stop()

    rows = []
    for (name, c), results in runs.items():
        rows.append(
            {
                "config": name,
                "concurrency": c,
                "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 2),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 2),
                "texts_per_s": round(statistics.median(r["texts_per_s"] for r in results), 1),
                "errors": sum(r["errors"] for r in results),
                "shadow_scored": sum(r["shadow_scored"] for r in results),
                "shadow_skipped": sum(r["shadow_skipped"] for r in results),
            }
        )
    base = {r["concurrency"]: r for r in rows if r["config"] == "off"}
    for r in rows:
        r["p50_vs_off"] = f"{(r['p50_ms'] / base[r['concurrency']]['p50_ms'] - 1) * 100:+.1f}%"
        r["p99_vs_off"] = f"{(r['p99_ms'] / base[r['concurrency']]['p99_ms'] - 1) * 100:+.1f}%"
    cols = ["config", "concurrency", "p50_ms", "p99_ms", "texts_per_s", "errors", "p50_vs_off", "p99_vs_off"]
    cols += ["shadow_scored", "shadow_skipped"]
    print(f"model: {note}; {args.rounds} round(s) of {args.duration:.0f} s; cpus {os.cpu_count()}")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(json.dumps({"model": note, "rows": rows}))


if __name__ == "__main__":
    main()
