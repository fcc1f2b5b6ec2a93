"""The pieces on their own: label mapping, tfidf column order, runtimes agreeing, padding, batching."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from agnews_core.errors import ConfigError, OverloadedError
from agnews_core.shadow import ShadowConfig
from agnews_inference.batch_policy import BatchPolicy
from agnews_inference.batcher import MicroBatcher
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.prediction_log import Served
from agnews_inference.predictor import LoadedModel, read_label_names
from agnews_inference.shadow import ShadowScorer
from agnews_inference.tfidf_backend import TfidfPredictor
from agnews_inference.transformers_backend import load_transformers
from fixtures_models import agnews_rows

NAMES = ("World", "Sports", "Business", "Sci/Tech")


def test_label_names_come_from_the_model_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"id2label": {"1": "Sports", "0": "World", "3": "Sci/Tech", "2": "Business"}})
    )
    assert read_label_names(tmp_path) == NAMES
    (tmp_path / "config.json").write_text(
        json.dumps({"id2label": {"0": "Sports", "1": "World", "2": "Business", "3": "Sci/Tech"}})
    )
    with pytest.raises(ConfigError, match="output 0 is 'Sports', but agnews expects 'World'"):
        read_label_names(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="no readable id2label"):
        read_label_names(tmp_path)


def test_tfidf_columns_are_reordered_whatever_classes_are(tiny_tfidf_model_dir: Path) -> None:
    pipeline = joblib.load(tiny_tfidf_model_dir / "model.joblib")
    texts = [t for t, _ in agnews_rows(20, "test")]
    reference = TfidfPredictor(pipeline, NAMES).predict_proba(texts)
    clf = pipeline[-1]
    for classes in (np.array([1, 2, 3, 4]), np.array(list(NAMES))):
        clf.classes_ = classes
        np.testing.assert_allclose(TfidfPredictor(pipeline, NAMES).predict_proba(texts), reference)
    clf.classes_ = np.array([7, 8, 9, 10])
    with pytest.raises(ConfigError, match="neither indices"):
        TfidfPredictor(pipeline, NAMES)


def _load(model_dir: Path, backend: str, tmp_path: Path, chunk: int = 32):
    return load_transformers(
        model_dir, backend=backend, cache_key="v-test", compiled_dir=tmp_path, max_length=64, chunk=chunk, threads=1
    )


def test_runtimes_agree_and_padding_changes_nothing(tiny_transformer_model_dir: Path, tmp_path: Path) -> None:
    texts = [t for t, _ in agnews_rows(40, "test")] + ["", "short"]
    torch_pred, name = _load(tiny_transformer_model_dir, "torch", tmp_path)
    assert name == "torch"
    reference = torch_pred.predict_proba(texts)
    alone = np.vstack([torch_pred.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(reference, alone, atol=1e-5)  # length-sorted padding is invisible
    onnx_pred, _ = _load(tiny_transformer_model_dir, "onnx", tmp_path, chunk=7)
    np.testing.assert_allclose(onnx_pred.predict_proba(texts), reference, atol=1e-4)
    int8_pred, name = _load(tiny_transformer_model_dir, "auto", tmp_path)
    assert name == "onnx-int8"
    int8 = int8_pred.predict_proba(texts)
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-6)
    assert np.abs(int8 - reference).max() < 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-test-onnx-int8.onnx", "v-test-onnx.onnx"]


class _Counting:
    def __init__(self, delay: float) -> None:
        self.delay, self.calls, self.lock = delay, [], threading.Lock()

    def predict_proba(self, texts):
        self.calls.append(len(texts))
        time.sleep(self.delay)
        return np.tile(np.array([0.1, 0.2, 0.3, 0.4]), (len(texts), 1)) * (1 + 0 * np.arange(len(texts))[:, None])


def _model(predictor) -> LoadedModel:
    return LoadedModel("v1", "tfidf", "test", predictor, NAMES, (1, 2, 3, 4))


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_requests_share_batches_and_keep_their_own_rows(workers: int) -> None:
    predictor = _Counting(0.05)
    policy = BatchPolicy(max_batch_size=8, max_queue=100)
    batcher = MicroBatcher(lambda: _model(predictor), InferenceMetrics(), policy, workers=workers)
    batcher.start()

    async def go():
        return await asyncio.gather(*(batcher.submit([f"t{i}"] * (1 + i % 3)) for i in range(12)))

    try:
        results = asyncio.run(go())
    finally:
        batcher.stop()
    assert [len(r.probs) for r in results] == [1 + i % 3 for i in range(12)]
    assert sum(predictor.calls) == sum(1 + i % 3 for i in range(12))
    assert len(predictor.calls) < 12 and max(predictor.calls) <= 8


def test_queue_bound_raises_overloaded_with_retry_after() -> None:
    predictor = _Counting(0.3)
    batcher = MicroBatcher(lambda: _model(predictor), InferenceMetrics(), BatchPolicy(max_batch_size=1, max_queue=3))
    batcher.start()

    async def go():
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.05)  # the thread holds "a"; the queue is empty again
        queued = asyncio.ensure_future(batcher.submit(["b", "c", "d"]))
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError) as err:
            await batcher.submit(["e"])
        assert err.value.retry_after_s >= 1
        await asyncio.gather(first, queued)

    try:
        asyncio.run(go())
    finally:
        batcher.stop()


class _Stamped:
    """A predictor that records when each of its passes started and ended."""

    def __init__(self, delay: float) -> None:
        self.delay, self.passes = delay, []

    def predict_proba(self, texts):
        started = time.monotonic()
        time.sleep(self.delay)
        self.passes.append((started, time.monotonic()))
        return np.tile(np.array([0.1, 0.2, 0.3, 0.4]), (len(texts), 1))


@pytest.mark.parametrize("yields", [True, False])
def test_the_shadow_waits_while_the_champion_is_busy(yields: bool) -> None:
    champion, challenger = _Stamped(0.4), _Stamped(0.01)
    batcher = MicroBatcher(lambda: _model(champion), InferenceMetrics(), BatchPolicy(max_batch_size=1))
    scorer = ShadowScorer(None, None, idle=(lambda: batcher.idle) if yields else None)  # type: ignore[arg-type]
    scorer.model = LoadedModel("v2", "tfidf", "test", challenger, NAMES, (1, 2, 3, 4))
    scorer.config = ShadowConfig("v2", 1.0, "now")
    served = Served(["p1"], [0], "v1", NAMES, time.time(), np.array([[0.1, 0.2, 0.3, 0.4]]), ["a text"])
    batcher.start()
    scorer.start()

    async def go() -> None:
        busy = asyncio.ensure_future(batcher.submit(["keeps the champion busy"]))
        await asyncio.sleep(0.05)  # its pass is running now
        assert not batcher.idle
        scorer.offer(served)
        await busy

    try:
        asyncio.run(go())
        deadline = time.monotonic() + 5
        while not challenger.passes and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        scorer.stop()
        batcher.stop()
    assert batcher.idle
    assert scorer.scored == {("v1", "v2", True): 1}  # argmax 3 on both sides
    champion_end, shadow_start = champion.passes[0][1], challenger.passes[0][0]
    if yields:  # it started only once the champion's pass was over
        assert shadow_start >= champion_end
    else:  # the nice-only mode starts at once, beside the champion's pass
        assert shadow_start < champion_end


def test_chunks_follow_length_groups_and_respect_the_size_limit() -> None:
    from agnews_inference.transformers_backend import plan_chunks

    assert plan_chunks([20] * 10 + [60] * 10 + [120] * 5, 32) == [(0, 10), (10, 20), (20, 25)]
    assert plan_chunks(list(range(30, 62)), 32) == [(0, 32)]  # similar lengths: one pass
    chunks = plan_chunks([50] * 100, 32)
    assert all(b - a <= 32 for a, b in chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == 100
    assert all(a2 == b1 for (_, b1), (a2, _) in itertools.pairwise(chunks))
    assert plan_chunks([], 32) == []


def test_one_bad_request_fails_alone_not_its_batch(tiny_transformer_model_dir: Path, tmp_path: Path) -> None:
    # the real fault: a lone surrogate reaching the tokenizer (the shared text function now removes them,
    # so it is fed to the batcher directly here) raises inside predict_proba for the whole batch
    from agnews_core.errors import InvalidInputError

    predictor, _ = _load(tiny_transformer_model_dir, "torch", tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - whatever the tokenizer raises
        predictor.predict_proba(["Stocks \ud800 rally"])
    batcher = MicroBatcher(lambda: _model(predictor), InferenceMetrics(), BatchPolicy(max_batch_size=16, max_queue=100))
    batcher.start()

    async def go():
        good = [batcher.submit([f"Federer wins the final {i}"]) for i in range(6)]
        bad = batcher.submit(["Stocks \ud800 rally"])
        return await asyncio.gather(bad, *good, return_exceptions=True)

    try:
        bad, *good = asyncio.run(go())
    finally:
        batcher.stop()
    assert isinstance(bad, InvalidInputError) and "could not classify" in str(bad)
    assert all(not isinstance(r, BaseException) and r.probs.shape == (1, 4) for r in good)


class _Exploit:
    """A pickle that runs code when loaded: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "pwned"))


def test_tfidf_loading_never_unpickles(tiny_tfidf_model_dir: Path, tmp_path: Path) -> None:
    from agnews_inference.tfidf_backend import load_tfidf

    assert load_tfidf(tiny_tfidf_model_dir, NAMES).predict_proba(["Stocks rally"]).shape == (1, 4)
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    marker = tmp_path / "marker"
    joblib.dump(_Exploit(marker), hostile / "model.joblib")
    with pytest.raises(ConfigError, match=r"holds only model\.joblib, a pickle that can run code"):
        load_tfidf(hostile, NAMES)
    assert not marker.exists()
    # a skops file naming a type outside scikit-learn/numpy/scipy is refused before anything is built
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(FunctionTransformer(func=os.getcwd), hostile / "model.skops")
    with pytest.raises(ConfigError, match="types outside scikit-learn, numpy and scipy"):
        load_tfidf(hostile, NAMES)


def test_onnx_is_compiled_in_a_child_process(tiny_transformer_model_dir: Path, tmp_path: Path) -> None:
    """Export and quantisation hold the GIL for long stretches: they must never run in the serving process.

    Checked in a fresh interpreter: after compile_onnx returns, neither torch nor the quantizer was imported
    there, yet the int8 file exists; a model folder that cannot be exported raises ConfigError with the cause.
    """
    script = f"""
import sys
from pathlib import Path
from agnews_core.errors import ConfigError
from agnews_inference.onnx_export import compile_onnx
out = compile_onnx(Path({str(tiny_transformer_model_dir)!r}), Path({str(tmp_path / "m.onnx")!r}),
                   ["input_ids", "attention_mask"], quantize=True)
assert out.is_file() and out.stat().st_size > 1000, out
assert "torch" not in sys.modules and "onnxruntime.quantization" not in sys.modules, "compiled in-process"
try:
    compile_onnx(Path({str(tmp_path)!r}), Path({str(tmp_path / "bad.onnx")!r}), ["input_ids"], quantize=True)
except ConfigError as exc:
    print("refused:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: cannot compile" in done.stdout and "exit 1" in done.stdout, done.stdout
    assert not (tmp_path / "bad.onnx").exists()
