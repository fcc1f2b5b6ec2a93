"""The transformers kind: tokenize, sort by length, pad each chunk only to its longest text, run the model.

Runtimes: onnx-int8 (default: fastest measured on CPU, see bench/bench_inference_backends.py), onnx (fp32)
and torch (fp32 eager under inference_mode). All return the same probabilities up to quantization noise.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from agnews_core.errors import ConfigError

from agnews_inference.onnx_export import compile_onnx
from agnews_inference.predictor import softmax

logger = logging.getLogger(__name__)

RunFn = Callable[[dict[str, np.ndarray]], np.ndarray]
DEFAULT_MAX_LENGTH = 128  # the trainer's default; a manifest's config.max_length wins
CALL_COST_TOKENS = 256  # fixed cost of one forward pass, in padded-token equivalents (measured order of magnitude)


class TransformersPredictor:
    """Length-sorted dynamic padding around a runtime that maps input arrays to logits."""

    def __init__(self, tokenizer: Any, run: RunFn, input_names: list[str], max_length: int, chunk: int) -> None:
        self.tokenizer = tokenizer
        self.run = run
        self.input_names = input_names
        self.max_length = max_length
        self.chunk = chunk
        self.pad_id = int(tokenizer.pad_token_id or 0)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        ids: list[list[int]] = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(ids), 0), dtype=np.float64)
        for start, stop in plan_chunks(lengths[order].tolist(), self.chunk):
            rows = order[start:stop]
            width = int(lengths[rows].max())
            input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            probs = softmax(self.run({k: feed[k] for k in self.input_names}))
            if out.shape[1] == 0:
                out = np.empty((len(ids), probs.shape[1]), dtype=np.float64)
            out[rows] = probs
        return out


def plan_chunks(sorted_lengths: list[int], max_chunk: int, call_cost: int = CALL_COST_TOKENS) -> list[tuple[int, int]]:
    """Split ascending lengths into [start, stop) chunks of at most max_chunk texts minimising padded tokens.

    Each chunk costs (texts x longest length) + call_cost; a dynamic programme over the sorted lengths, O(n x
    max_chunk). On CPU a forward pass costs about the same per token at batch 4 as at batch 32, so cutting
    padding is nearly free speed; call_cost stops it from splitting into many tiny passes.
    """
    n = len(sorted_lengths)
    best = [0] + [0] * n
    cut = [0] * (n + 1)
    for stop in range(1, n + 1):
        longest = sorted_lengths[stop - 1]
        best[stop], cut[stop] = min(
            (best[start] + (stop - start) * longest + call_cost, start)
            for start in range(max(0, stop - max_chunk), stop)
        )
    chunks = []
    stop = n
    while stop > 0:
        chunks.append((cut[stop], stop))
        stop = cut[stop]
    return chunks[::-1]


def load_transformers(
    model_dir: Path,
    *,
    backend: str,
    cache_key: str,
    compiled_dir: Path,
    max_length: int,
    chunk: int,
    threads: int,
) -> tuple[TransformersPredictor, str]:
    """A predictor for a save_pretrained folder and the backend actually used ('auto' falls back in order)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer in {model_dir}: {exc}") from None
    input_names: list[str] = [
        n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names
    ]
    max_length = min(max_length, int(getattr(tokenizer, "model_max_length", max_length) or max_length))
    candidates = ["onnx-int8", "onnx", "torch"] if backend == "auto" else [backend]
    errors = []
    for name in candidates:
        try:
            run, names = _runtime(name, model_dir, input_names, compiled_dir / f"{cache_key}-{name}.onnx", threads)
            return TransformersPredictor(tokenizer, run, names, max_length, chunk), name
        except Exception as exc:  # an export can fail on an exotic architecture: try the next runtime
            logger.warning("backend %s failed for %s: %s", name, model_dir, exc)
            errors.append(f"{name}: {exc}")
    raise ConfigError(f"no runtime could load {model_dir}: {'; '.join(errors)}")


def _runtime(
    name: str, model_dir: Path, input_names: list[str], onnx_path: Path, threads: int
) -> tuple[RunFn, list[str]]:
    if name == "torch":
        return _torch_runtime(model_dir, threads), input_names
    import onnxruntime as ort

    path = compile_onnx(model_dir, onnx_path, input_names, quantize=name == "onnx-int8")
    options = ort.SessionOptions()
    # One forward pass at a time (one inference thread), using every core; no inter-op pool to contend with.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting between passes: spinning pool threads would take the CPU the event loop needs for HTTP.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]  # the exporter drops inputs the graph does not use

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(session.run(["logits"], feed)[0])

    return run, names


def _torch_runtime(model_dir: Path, threads: int) -> RunFn:
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(threads)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            logits = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits
        return logits.float().numpy()

    return run


def cache_key(version: str, manifest_json: bytes) -> str:
    """Compiled files are keyed by version and manifest content, so two registries never share a stale file."""
    return f"{version}-{hashlib.sha256(manifest_json).hexdigest()[:12]}"
