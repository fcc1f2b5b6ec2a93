"""The served model: kserve-like cheap constructor, load(), ready, plus following the champion alias.

A new champion is loaded and warmed up in a worker thread while the current model keeps serving; then one
attribute assignment switches to it. The inference thread reads that attribute once per batch, so a request
is answered wholly by the old or wholly by the new model, and none fails or waits on the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from agnews_core.errors import AgnewsError, ConfigError, InvalidInputError
from agnews_core.registry import ModelRegistry

from agnews_inference.cache import prune_cache
from agnews_inference.loader import load_model
from agnews_inference.metrics import InferenceMetrics
from agnews_inference.predictor import LoadedModel
from agnews_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadOutcome:
    model_version: str
    previous_version: str | None
    changed: bool


class ModelServer:
    """Owns the current LoadedModel. Construct cheaply; `load()` (or `follow()`) does the heavy work."""

    def __init__(self, settings: InferenceSettings, metrics: InferenceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.current: LoadedModel | None = None
        self.not_ready_reason = "loading the model"
        self._registry: ModelRegistry | None = None
        self._broken: tuple[str, str] | None = None  # (version, why): immutable, so not worth retrying on a poll
        self._last_warning = ""
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.current is not None

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = self.settings.open_registry()
        return self._registry

    async def load(self, force: bool = False) -> ReloadOutcome:
        """Resolve the configured ref and switch to it if it is not what is served now.

        A version that failed to load is not retried by the poller (versions are immutable), only by `force`.
        """
        async with self._lock:  # the poller and POST /v1/reload never load the same version twice
            previous = self.current.version if self.current else None
            version = await asyncio.to_thread(self.registry.resolve, self.settings.model_ref)
            if version == previous:
                return ReloadOutcome(version, previous, changed=False)
            if self._broken and self._broken[0] == version and not force:
                raise ConfigError(self._broken[1])
            logger.info("loading model %s (serving %s meanwhile)", version, previous or "nothing")
            try:
                loaded = await asyncio.to_thread(load_model, self.registry, version, self.settings)
            except (ConfigError, InvalidInputError, OSError, ValueError) as exc:
                self._broken = (version, f"model {version} cannot be served: {exc}")
                raise ConfigError(self._broken[1]) from exc
            self.current = loaded  # the atomic switch
            self.metrics.set_model(loaded.version, loaded.kind)
            held = await asyncio.to_thread(prune_cache, self.settings.cache_dir, (loaded.version, previous))
            self.metrics.cache_bytes.set(held)
            logger.info("now serving %s (%s, %s)", loaded.version, loaded.kind, loaded.backend)
            return ReloadOutcome(version, previous, changed=True)

    async def follow(self) -> None:
        """Load at start, then poll the alias forever; errors are logged and retried, never fatal."""
        interval = self.settings.poll_interval_s
        while True:
            try:
                await self.load()
            except AgnewsError as exc:
                self._failed(str(exc))
            except Exception as exc:  # a broken artifact must not kill the poller: keep serving the old one
                logger.exception("loading the model failed")
                self._failed(f"loading the model failed: {exc}")
            if interval <= 0 and self.ready:
                return
            await asyncio.sleep(interval if interval > 0 else 2.0)

    def _failed(self, reason: str) -> None:
        if self.current is None:
            self.not_ready_reason = reason
        if reason != self._last_warning:  # once per distinct problem, not once per poll
            self._last_warning = reason
            logger.warning("%s%s", reason, "" if self.current is None else f" (still serving {self.current.version})")

    async def close(self, task: asyncio.Task[None] | None) -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.metrics.ready.set(0)
