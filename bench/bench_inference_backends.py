"""Which CPU runtime serves transformers models: torch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8.

For each runtime: texts/s in batches of 32 (length-sorted, as served), single-text latency, accuracy on
test.csv, and agreement of its predictions with torch fp32. The served default (INFERENCE_BACKEND=auto ->
onnx-int8) must keep accuracy within 0.3 points of fp32; the last line is one JSON object with the figures.

    .venv/bin/python bench/bench_inference_backends.py [--registry registry] [--limit 3800] [--threads 2,1]

Accuracy means something only for a trained model: the registry's transformers champion when there is one;
otherwise all-MiniLM-L6-v2 whose classification head (only) is fitted here by logistic regression on frozen
pooled features of --train-head rows of train.csv (minutes on a CPU, realistic margins for the int8 check).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_serving import articles, pick_model  # noqa: E402


def train_head(model_dir: Path, rows: int, dest: Path) -> Path:
    """Fit the classifier layer on frozen encoder features; the encoder is untouched."""
    import csv

    import torch
    from agnews_core.labels import label_id_to_index
    from agnews_core.text import model_input
    from bench_serving import SHARED_DATA
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with open(SHARED_DATA / "train.csv", newline="") as fh:
        data = list(csv.DictReader(fh))[:rows]
    texts = [model_input(r["title"], r["description"]) for r in data]
    labels = [label_id_to_index(int(r["label"])) for r in data]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    features = []
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            enc = tokenizer(texts[i : i + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
            features.append(model.base_model(**enc).pooler_output.numpy())
    clf = LogisticRegression(max_iter=2000, C=10.0).fit(np.vstack(features), labels)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor(clf.coef_, dtype=torch.float32))
        model.classifier.bias.copy_(torch.tensor(clf.intercept_, dtype=torch.float32))
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def cpu_flags() -> list[str]:
    """The int8/bf16 matrix extensions this CPU has (ONNX Runtime's int8 GEMM uses VNNI when present)."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    present = set(flags.split(":", 1)[1].split())
    return [f for f in wanted if f in present]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default=str(REPO / "registry"))
    parser.add_argument("--model-dir", type=Path, default=None, help="a save_pretrained classifier folder to use")
    parser.add_argument("--limit", type=int, default=3800, help="test.csv rows to score")
    parser.add_argument("--threads", default="2", help="intra-op threads to time, comma-separated (first: accuracy)")
    parser.add_argument("--batch-sizes", default="1,4,16,32", help="texts per call to time, comma-separated")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--train-head", type=int, default=2000, help="rows to fit the head on (no champion); 0: off")
    args = parser.parse_args()

    import csv

    from agnews_core.labels import label_id_to_index
    from agnews_core.text import model_input
    from agnews_inference.transformers_backend import load_transformers
    from bench_serving import SHARED_DATA

    workdir = Path(tempfile.mkdtemp(prefix="agnews-bench-backends-"))
    if args.model_dir:
        model_dir, note = args.model_dir, f"{args.model_dir} (given)"
    else:
        model_dir, note = pick_model(args.registry, workdir)
    if note.startswith("all-MiniLM") and args.train_head:
        model_dir = train_head(model_dir, args.train_head, workdir / "minilm-head-trained")
        note = f"all-MiniLM-L6-v2, frozen encoder, head fitted on {args.train_head} train rows (no fine-tuned champion)"
    with open(SHARED_DATA / "test.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[: args.limit]
    texts = [model_input(r["title"], r["description"]) for r in rows]
    gold = np.array([label_id_to_index(int(r["label"])) for r in rows])
    short = model_input(**articles("test", 1)[0])

    results: dict[str, dict[str, float]] = {}
    preds: dict[str, np.ndarray] = {}
    speed: dict[str, float] = {}  # texts/s by runtime, threads and batch size
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for backend in ("torch", "onnx", "onnx-int8"):
        for threads in [int(t) for t in args.threads.split(",")]:
            predictor, _ = load_transformers(
                model_dir,
                backend=backend,
                cache_key=f"bench-{threads}",
                compiled_dir=workdir / "compiled",
                max_length=args.max_length,
                chunk=32,
                threads=threads,
            )
            predictor.predict_proba(texts[:32])
            for size in batch_sizes:  # as served: length-sorted, padded per chunk
                sample = texts[: max(size * 4, 64)]
                started = time.perf_counter()
                for i in range(0, len(sample), size):
                    predictor.predict_proba(sample[i : i + size])
                speed[f"{backend} t{threads} b{size}"] = round(len(sample) / (time.perf_counter() - started), 1)
            if backend in results:
                continue  # accuracy does not depend on threads
            started = time.perf_counter()
            probs = np.vstack([predictor.predict_proba(texts[i : i + 32]) for i in range(0, len(texts), 32)])
            throughput = len(texts) / (time.perf_counter() - started)
            single = []
            for _ in range(50):
                t = time.perf_counter()
                predictor.predict_proba([short])
                single.append((time.perf_counter() - t) * 1000)
            preds[backend] = probs.argmax(axis=1)
            results[backend] = {
                "texts_per_s": round(throughput, 1),
                "single_ms_p50": round(statistics.median(single), 2),
                "accuracy": round(float((preds[backend] == gold).mean()) * 100, 2),
                "agreement_with_fp32": round(float((preds[backend] == preds["torch"]).mean()) * 100, 2),
            }
            print(backend, results[backend], flush=True)
        print({k: v for k, v in speed.items() if k.startswith(backend + " ")}, flush=True)

    fp32 = results["torch"]["accuracy"]
    figures = {
        "model": note,
        "rows": len(texts),
        "threads": args.threads,
        "cpu_flags": cpu_flags(),
        **{f"{b}": r for b, r in results.items()},
        "texts_per_s_by_threads_and_batch": speed,
        "int8_accuracy_cost_points": round(fp32 - results["onnx-int8"]["accuracy"], 2),
        "int8_speedup_vs_torch": round(results["onnx-int8"]["texts_per_s"] / results["torch"]["texts_per_s"], 2),
        "onnx_speedup_vs_torch": round(results["onnx"]["texts_per_s"] / results["torch"]["texts_per_s"], 2),
    }
    print(f"model: {note}; {len(texts)} test rows; threads {args.threads}; CPU {figures['cpu_flags']}")
    print("| runtime | texts/s (batch 32) | single text p50 ms | accuracy % | agreement with fp32 % |")
    print("|---|---|---|---|---|")
    for b, r in results.items():
        print(f"| {b} | {r['texts_per_s']} | {r['single_ms_p50']} | {r['accuracy']} | {r['agreement_with_fp32']} |")
    print(f"int8 accuracy cost: {figures['int8_accuracy_cost_points']} points (goal <= 0.3)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
