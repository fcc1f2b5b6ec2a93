"""Gateway settings (env prefix GATEWAY_), validated at start-up."""

from __future__ import annotations

from functools import cached_property
from urllib.parse import urlparse

from agnews_core.auth import KeyRing, parse_keys
from agnews_core.errors import ConfigError
from agnews_core.settings import RegistrySettings
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict


class GatewaySettings(RegistrySettings):
    """Everything the gateway and the batch worker read from the environment."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="job store, Celery broker and rate limits")
    redis_timeout_s: float = 2.0
    inference_url: str = "http://127.0.0.1:8001"
    inference_timeout_s: float = 30.0
    inference_connect_timeout_s: float = 2.0
    inference_retries: int = Field(2, ge=0, le=10, description="extra tries on connection errors only")
    inference_admin_key: SecretStr = SecretStr("")
    """Key for inference's POST /v1/reload and its load check before a promotion (empty: neither)."""
    promote_check_timeout_s: float = Field(300.0, gt=0, description="how long a promotion waits for the load check")

    admin_keys: SecretStr = SecretStr("")
    """Admin Bearer keys (training jobs, promote, rollback, every job): `name=key`, `name=sha256:<hex>` or bare."""
    client_keys: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("GATEWAY_CLIENT_KEYS", "GATEWAY_CLASSIFY_KEYS", "client_keys")
    )
    """Client Bearer keys, same format; the name is the owner of the caller's jobs. (Old name: CLASSIFY_KEYS.)"""
    anonymous_access: bool | None = None
    """Callers without a key may classify and run batch jobs (never list jobs). Default: only when no
    client key is configured."""

    rate_limit_per_minute: int = Field(600, ge=0, description="sustained requests per client per minute; 0 disables")
    rate_limit_burst: int = Field(60, ge=1, description="requests a client may send at once before the rate applies")
    key_rate_limits: str = ""
    """Per-key sustained limits overriding the default: `name=per_minute,...` (key names as configured)."""
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    """Proxies you run in front of the gateway (nginx: 1; Ingress + nginx: 2). The client address is the
    X-Forwarded-For entry that many hops from the right; 0 ignores the header (the peer address counts)."""

    max_body_bytes: int = Field(1 << 20, ge=1)
    max_upload_bytes: int = Field(64 << 20, ge=1)
    max_batch_articles: int = Field(100_000, ge=1)
    max_line_bytes: int = Field(1 << 20, ge=16, description="longest line a batch upload may hold")

    training_presets_extra: bool = False
    """Admins may name a Hub model id or a local path as preset (else only the trainer's presets)."""
    training_data_prefixes: str = ""
    """Comma separated prefixes a training job's `data` may start with (e.g. s3://agnews-data/); empty: the
    trainer's configured data only."""
    training_max_steps: int = Field(200_000, ge=1)
    training_max_samples: int = Field(10_000_000, ge=1)

    batch_chunk_size: int = Field(64, ge=1, le=4096)
    batch_chunk_pause_s: float = Field(0.0, ge=0.0, description="pause between chunks, to leave inference room")
    job_ttl_s: int = 7 * 24 * 3600
    idempotency_ttl_s: int = 24 * 3600
    job_lease_s: float = Field(60.0, gt=0, description="a killed worker's job is picked up after this long")
    record_timeout_s: float = Field(600.0, gt=0, description="how long a job's outcome is retried while Redis is down")
    max_attempts: int = Field(3, ge=1, description="deliveries a job may start before the reaper fails it")
    reaper_interval_s: float = Field(10.0, gt=0, description="how often the reaper looks for expired leases")
    queued_grace_s: float = Field(60.0, gt=0, description="a queued job with no broker message after this is resent")
    retention_interval_s: float = Field(300.0, gt=0, description="how often the reaper deletes expired files")
    failed_run_ttl_s: int = Field(3 * 24 * 3600, ge=0, description="failed training runs' checkpoints kept this long")
    reaper_metrics_port: int = 9103
    reaper_metrics_host: str = "127.0.0.1"
    visibility_timeout_s: int = Field(3600, gt=0, description="must exceed the longest batch job")
    result_expires_s: int = 7 * 24 * 3600
    worker_metrics_port: int = 9102
    worker_metrics_host: str = "127.0.0.1"

    # Monitoring (monitoring.py): the live-accuracy window and the durable feedback log.
    feedback_window_s: float = Field(7 * 24 * 3600, gt=0, description="live accuracy counts feedback this recent")
    feedback_window_max: int = Field(10_000, ge=1, description="and at most this many per model version")
    drift_window_s: float = Field(3600, gt=0, description="drift compares this much recent traffic with training")
    feedback_log_flush_s: float = Field(5.0, gt=0, description="longest a feedback record waits to be written")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if urlparse(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"set GATEWAY_REDIS_URL to redis://[:password@]host:port/db, got {value!r}")
        return value

    @field_validator("inference_url")
    @classmethod
    def _inference_url(cls, value: str) -> str:
        if urlparse(value).scheme not in ("http", "https"):
            raise ValueError(f"set GATEWAY_INFERENCE_URL to http://host:port, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _keys_parse(self) -> GatewaySettings:
        try:
            ring = self.key_ring
            self.key_limits  # noqa: B018 - parse now, fail at start-up
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        unknown = set(self.key_limits) - {k.name for k in ring.keys}
        if unknown:
            raise ValueError(f"GATEWAY_KEY_RATE_LIMITS names keys that are not configured: {sorted(unknown)}")
        return self

    @cached_property
    def key_ring(self) -> KeyRing:
        """Admin and client keys, as digests."""
        return KeyRing(
            parse_keys(self.admin_keys.get_secret_value(), "admin", "GATEWAY_ADMIN_KEYS")
            + parse_keys(self.client_keys.get_secret_value(), "client", "GATEWAY_CLIENT_KEYS")
        )

    @cached_property
    def key_limits(self) -> dict[str, int]:
        limits = {}
        for entry in filter(None, (e.strip() for e in self.key_rate_limits.split(","))):
            name, _, value = entry.partition("=")
            if not value.strip().isdigit():
                raise ConfigError(f"GATEWAY_KEY_RATE_LIMITS: expected name=per_minute, got {entry!r}")
            limits[name.strip()] = int(value)
        return limits

    @property
    def anonymous_allowed(self) -> bool:
        if self.anonymous_access is not None:
            return self.anonymous_access
        return not self.key_ring.has_role("client")

    @property
    def data_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.training_data_prefixes.split(",") if p.strip())
