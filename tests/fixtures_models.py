"""Tiny real models in the registry's on-disk formats, for any test that needs a model to serve.

- a transformers model: BertConfig (hidden 32, 2 layers) + a WordPiece tokenizer trained here, offline,
  saved with save_pretrained, with id2label/label2id from agnews_core.labels (as the trainer writes them);
- a tfidf model: TfidfVectorizer + LogisticRegression on a few thousand real AG News rows, model.joblib +
  config.json.

Both take seconds to build; the session fixtures build each once. `make_registry_with_champion` publishes
and promotes them in a registry on a folder or S3.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from agnews_core import labels
from agnews_core.registry import ModelKind, ModelManifest, ModelRegistry, new_version_id
from agnews_core.text import model_input

SHARED_DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "agnews").resolve()


def agnews_rows(n: int, split: str = "train") -> list[tuple[str, int]]:
    """(model input, label index 0-3) for the first n rows of the shared AG News CSV."""
    out = []
    with open(SHARED_DATA / f"{split}.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out.append((model_input(row["title"], row["description"]), labels.label_id_to_index(int(row["label"]))))
            if len(out) >= n:
                break
    return out


def _label_config() -> dict[str, object]:
    return {"id2label": {str(k): v for k, v in labels.id2label().items()}, "label2id": labels.label2id()}


def build_tiny_transformer(
    dest: Path,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 800,
    max_length: int = 128,
) -> Path:
    """A real (random-weight) BERT classifier small enough to load in well under a second.

    Its WordPiece tokenizer is trained offline on `corpus` (default: AG News-like rows).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    texts = corpus if corpus is not None else (text for text, _ in agnews_rows(2000))
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        num_labels=labels.NUM_LABELS,
        id2label=labels.id2label(),
        label2id=labels.label2id(),
    )
    model = BertForSequenceClassification(config).eval()
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


def build_tiny_tfidf(dest: Path, n_rows: int = 3000) -> Path:
    """A real tfidf + logistic regression pipeline on AG News rows (classes_ are indices 0-3)."""
    import joblib
    import skops.io as skops_io
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = agnews_rows(n_rows)
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), LogisticRegression(max_iter=300))
    pipeline.fit([t for t, _ in rows], [y for _, y in rows])
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, dest / "model.joblib")
    skops_io.dump(pipeline, dest / "model.skops")  # what inference loads (no pickle)
    (dest / "config.json").write_text(json.dumps(_label_config(), indent=2))
    return dest


def publish_model(registry: ModelRegistry, model_dir: Path, kind: ModelKind, *, promote: bool = True) -> str:
    """Publish a model folder as a new version (optionally promoting it); returns the version id."""
    version = new_version_id(kind)
    manifest = ModelManifest(
        version=version,
        kind=kind,
        preset="tiny-test",
        test_data_hash="test",
        metrics={"accuracy": 0.25},
        config={"max_length": 64},
    )
    registry.publish(model_dir, manifest)
    if promote:
        registry.promote(version, reason="test fixture")
    return version


@pytest.fixture(scope="session")
def tiny_transformer_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_transformer(tmp_path_factory.mktemp("tiny-transformer"))


@pytest.fixture(scope="session")
def tiny_tfidf_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tfidf(tmp_path_factory.mktemp("tiny-tfidf"))


MakeRegistry = Callable[..., tuple[ModelRegistry, str]]


@pytest.fixture
def make_registry_with_champion(
    tmp_path: Path, tiny_transformer_model_dir: Path, tiny_tfidf_model_dir: Path
) -> MakeRegistry:
    """make(kind="tfidf"|"transformers", uri=None) -> (registry, champion version); default: a local folder."""

    def make(kind: ModelKind = "tfidf", uri: str | None = None, **store_kwargs: object) -> tuple[ModelRegistry, str]:
        from agnews_core.storage import open_store

        store = open_store(uri or str(tmp_path / "registry"), **store_kwargs)  # type: ignore[arg-type]
        registry = ModelRegistry(store)
        source = tiny_tfidf_model_dir if kind == "tfidf" else tiny_transformer_model_dir
        return registry, publish_model(registry, source, kind)

    return make


def copy_model(src: Path, dest: Path) -> Path:
    """A copy of a model folder (to publish the same weights twice as different versions)."""
    shutil.copytree(src, dest)
    return dest
