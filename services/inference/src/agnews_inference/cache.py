"""The local cache (INFERENCE_CACHE_DIR) stays bounded: the served version and the one before it, nothing else.

    models/<version>/                   copies of S3 versions (registry.materialize)
    models/.<version>.<hex>/            a download in progress, or left by one that failed
    compiled/<version>-<hash>-<rt>.onnx compiled runtimes (and .<name>.<hex>* while one is written)

Versions are immutable, so what is kept is never stale; the previous one stays for a quick rollback.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

STALE_TEMP_S = 600.0  # a temporary entry this old belongs to no load in progress (loads take seconds to minutes)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _belongs(name: str, keep: set[str]) -> bool:
    return any(name == v or name.startswith(f"{v}-") for v in keep)


def prune_cache(cache_dir: Path, keep: Iterable[str | None], now: float | None = None) -> int:
    """Delete cache entries of other versions and stale temporaries; returns the bytes the cache still holds."""
    wanted = {v for v in keep if v}
    now = time.time() if now is None else now
    held = 0
    for area in ("models", "compiled"):
        folder = cache_dir / area
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            temporary = entry.name.startswith(".")
            if temporary and now - entry.stat().st_mtime < STALE_TEMP_S:
                held += _size(entry)
                continue
            if not temporary and _belongs(entry.name, wanted):
                held += _size(entry)
                continue
            logger.info("cache: removing %s", entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return held
