"""Inference settings: environment variables with the INFERENCE_ prefix (see docs/CONTRACTS.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from agnews_core.settings import RegistrySettings
from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from agnews_inference.batch_policy import BatchPolicy

Backend = Literal["auto", "onnx-int8", "onnx", "torch"]


def cpu_count() -> int:
    """CPUs this process may run on (the container's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class InferenceSettings(RegistrySettings):
    """Everything the model server reads from the environment, validated at start-up."""

    model_config = SettingsConfigDict(env_prefix="INFERENCE_", extra="ignore")

    admin_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated keys accepted by POST /v1/reload (Bearer)"
    )
    model_ref: str = Field("champion", description="what to serve: 'champion' (followed) or a fixed version id")
    poll_interval_s: float = Field(10.0, ge=0, description="how often to check the champion alias; 0 disables")
    cache_dir: Path = Field(
        Path(tempfile.gettempdir()) / "agnews-inference",
        description="local copies of S3 models and compiled ONNX files (versions are immutable, so never stale)",
    )

    max_batch_size: int = Field(32, ge=1, le=1024, description="most texts per forward pass")
    token_budget: int = Field(
        1024, ge=16, description="most (estimated) tokens per forward pass: batches are capped by work, not count"
    )
    max_pass_ms: float = Field(
        100.0,
        ge=0,
        description="a pass takes at most the tokens the measured speed computes in this time; 0: token budget only",
    )
    max_wait_ms: float = Field(
        0.0, ge=0, le=1000, description="how long a batch waits for company; 0 (measured best): run what is queued"
    )
    max_items: int = Field(256, ge=1, description="texts or articles per request")
    max_chars: int = Field(2000, ge=16, description="model input longer than this is truncated (see README)")
    max_queue: int = Field(1024, ge=1, description="texts waiting for the model before requests get 429")
    max_queue_delay_ms: float = Field(
        250.0, gt=0, description="admission: 429 + Retry-After when queued work would take longer than this"
    )
    deadline_ms: float = Field(
        1000.0, gt=0, description="a request still queued this long after arriving is dropped (429), not computed"
    )
    max_body_bytes: int = Field(1 << 20, ge=1024, description="request bodies above this get 413")
    allow_pickle: bool = Field(
        False, description="load a tfidf model.joblib (a pickle: it can run code); only for a registry you alone write"
    )

    backend: Backend = Field("auto", description="transformers runtime: auto = onnx-int8, falling back to onnx, torch")
    max_length: int | None = Field(None, ge=8, le=4096, description="tokens per text; default: the model's training")
    intra_op_threads: int = Field(default_factory=cpu_count, ge=1, description="threads of one forward pass")
    workers: int = Field(1, ge=1, le=64, description="inference threads taking batches (see batcher.py)")

    def batch_policy(self, max_tokens_per_text: int = 128) -> BatchPolicy:
        """The batcher's knobs, from these settings."""
        return BatchPolicy(
            token_budget=self.token_budget,
            max_pass_ms=self.max_pass_ms,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            max_queue=self.max_queue,
            max_queue_delay_ms=self.max_queue_delay_ms,
            deadline_ms=self.deadline_ms,
            max_tokens_per_text=self.max_length or max_tokens_per_text,
        )

    # Monitoring (prediction_log.py): what is logged, and the Redis index feedback joins on.
    prediction_log_rate: float = Field(1.0, ge=0.0, le=1.0, description="share of predictions logged, with an id")
    prediction_log_text: bool = Field(True, description="keep the model input text in the log (else only its hash)")
    prediction_log_flush_s: float = Field(5.0, gt=0, description="longest a record waits before it is written")
    prediction_log_flush_rows: int = Field(2000, ge=1, description="records that trigger a write before that")
    prediction_log_max_pending: int = Field(100_000, ge=1, description="records held in memory; more are dropped")
    redis_url: str | None = Field(None, description="Redis for the prediction index feedback joins on (optional)")
    shadow_yield: bool = Field(
        True,
        description="the shadow version scores only while the champion is idle; busy, it skips (and counts) work",
    )
    prediction_index_ttl_s: int = Field(6 * 3600, ge=60, description="how long a prediction accepts feedback")

    @field_validator("admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value
