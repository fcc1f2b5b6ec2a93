"""How long compiling a new version to ONNX stalls the other threads of the serving process.

A load check or a hot swap compiles the version (torch.onnx export, then int8 quantisation) while the event
loop and the inference thread keep answering. This times, in one process and interleaved rounds, the
in-process compile that inference used before (`compile_here`, the baseline) against `compile_onnx` (the
same work in a child interpreter), with a ticker thread that wakes every millisecond: its longest gap between
wake-ups is the longest time a request's thread could not run Python while the compile ran.

    .venv/bin/python bench/bench_load_stall.py [--rounds 3] [--model tiny|minilm]

Figures are medians over rounds, in milliseconds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import REPO, pick_model

sys.path.insert(0, str(REPO / "tests"))


class Ticker:
    """A thread that sleeps 1 ms at a time and remembers the longest gap between its wake-ups."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last)
            last = now

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(compile_fn: Callable[[Path], object], dest: Path) -> dict[str, float]:
    with Ticker() as ticker:
        started = time.perf_counter()
        compile_fn(dest)
        wall = time.perf_counter() - started
    return {"wall_ms": round(wall * 1000, 1), "worst_stall_ms": round(ticker.worst * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", choices=["tiny", "minilm"], default="minilm")
    args = parser.parse_args()

    import torch  # noqa: F401  (imported up front, as a running server that served torch once would have)
    from agnews_inference.onnx_export import compile_here, compile_onnx
    from fixtures_models import build_tiny_transformer

    work = Path(tempfile.mkdtemp(prefix="agnews-bench-load-stall-"))
    if args.model == "tiny":
        model_dir, note = build_tiny_transformer(work / "tiny"), "tiny random BERT (tests/fixtures_models.py)"
    else:
        model_dir, note = pick_model(None, work)
    names = ["input_ids", "attention_mask"]
    ways: dict[str, Callable[[Path], object]] = {
        "in-process (before)": lambda dest: compile_here(model_dir, dest, names, quantize=True),
        "child process (now)": lambda dest: compile_onnx(model_dir, dest, names, quantize=True),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        order = list(ways) if round_ % 2 == 0 else list(reversed(ways))  # interleaved: drift hits both alike
        for name in order:
            result = timed(ways[name], work / f"{round_}-{len(runs[name])}-{name[:5]}.onnx")
            runs[name].append(result)
            print(f"round {round_ + 1} {name}: {result}", flush=True)
    rows = {
        name: {key: statistics.median(r[key] for r in results) for key in ("wall_ms", "worst_stall_ms")}
        for name, results in runs.items()
    }
    print(f"model: {note}; {args.rounds} rounds, medians")
    print("| compile | wall ms | longest stall of other threads, ms |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['wall_ms']} | {row['worst_stall_ms']} |")
    print(json.dumps({"model": note, "rounds": args.rounds, "rows": rows}))


if __name__ == "__main__":
    main()
