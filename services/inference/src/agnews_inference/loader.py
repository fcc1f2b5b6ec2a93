"""Turn a registry version into a warmed-up LoadedModel, whatever its kind."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from agnews_core import labels
from agnews_core.errors import ConfigError
from agnews_core.registry import ModelManifest, ModelRegistry

from agnews_inference.blend_backend import load_blend
from agnews_inference.predictor import LoadedModel, Predictor, read_label_names, read_vocabulary
from agnews_inference.settings import InferenceSettings
from agnews_inference.tfidf_backend import load_tfidf
from agnews_inference.transformers_backend import DEFAULT_MAX_LENGTH, cache_key, load_transformers

logger = logging.getLogger(__name__)

# Warm-up inputs: short and long, single and batched, so lazy allocations happen before the first request.
_WARMUP = [
    "Stocks rise as oil prices fall.",
    "The team won the championship final on Sunday after a late goal in extra time, their third title in four "
    "seasons, while the rival coach said the referee had missed a clear penalty in the first half.",
]


# One load at a time per process. The champion and a shadow version are loaded from two threads when
# inference starts with a shadow set, and transformers' lazy module is not safe to import from two threads at
# once ("cannot import name 'AutoTokenizer'": seen in bench-monitoring, and the shadow was then written off as
# broken). Two loads side by side would only share the same cores anyway.
_LOADING = threading.Lock()


def load_model(registry: ModelRegistry, version: str, settings: InferenceSettings) -> LoadedModel:
    """Fetch (if remote), load and warm up one version. Blocking: call it from a thread."""
    with _LOADING:
        return _load_model(registry, version, settings)


def _load_model(registry: ModelRegistry, version: str, settings: InferenceSettings) -> LoadedModel:
    started = time.perf_counter()
    manifest = registry.get(version)
    model_dir = registry.materialize(version, settings.cache_dir / "models")
    names = read_label_names(model_dir)
    predictor, backend = load_predictor(
        model_dir,
        manifest.kind,
        settings,
        cache_key=cache_key(version, manifest.model_dump_json().encode()),
        max_length=settings.max_length or trained_max_length(manifest),
    )
    loaded = LoadedModel(
        version=version,
        kind=manifest.kind,
        backend=backend,
        predictor=predictor,
        label_names=names,
        label_ids=tuple(labels.index_to_label_id(i) for i in range(len(names))),
        vocabulary=read_vocabulary(model_dir),
    )
    for size in (1, settings.max_batch_size):
        loaded.predictor.predict_proba((_WARMUP * size)[:size])
    logger.info("loaded %s (%s, %s) in %.1f s", version, manifest.kind, backend, time.perf_counter() - started)
    return loaded


def load_predictor(
    model_dir: Path, kind: str, settings: InferenceSettings, *, cache_key: str, max_length: int
) -> tuple[Predictor, str]:
    """The predictor for a model folder of any kind and the backend it runs on; the trainer scores with this too."""
    if kind == "tfidf":
        return load_tfidf(model_dir, read_label_names(model_dir), allow_pickle=settings.allow_pickle), "sklearn"
    if kind == "transformers":
        return load_transformers(
            model_dir,
            backend=settings.backend,
            cache_key=cache_key,
            compiled_dir=settings.cache_dir / "compiled",
            max_length=max_length,
            chunk=settings.max_batch_size,
            threads=settings.intra_op_threads,
        )
    if kind == "blend":

        def part(folder: Path, part_kind: str) -> tuple[Predictor, str]:
            return load_predictor(
                folder, part_kind, settings, cache_key=f"{cache_key}-{folder.name}", max_length=max_length
            )

        return load_blend(model_dir, part)
    raise ConfigError(f"model folder {model_dir} has unknown kind {kind!r}")


def trained_max_length(manifest: ModelManifest) -> int:
    """The token length the model was trained with (the trainer writes config.training.max_length)."""
    for section in (manifest.config, manifest.config.get("training"), manifest.config.get("train_stats")):
        if isinstance(section, dict):
            for key in ("max_length", "max_seq_length"):
                value = section.get(key)
                if isinstance(value, int) and value > 0:
                    return value
    return DEFAULT_MAX_LENGTH
