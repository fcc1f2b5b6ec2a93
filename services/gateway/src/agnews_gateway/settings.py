"""Gateway settings (env prefix GATEWAY_), validated at start-up."""

from __future__ import annotations

from urllib.parse import urlparse

from agnews_core.auth import key_matches
from agnews_core.settings import RegistrySettings
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict


def _keys(raw: SecretStr) -> tuple[str, ...]:
    return tuple(k.strip() for k in raw.get_secret_value().split(",") if k.strip())


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
    """Comma separated Bearer keys for admin routes (training jobs, promote, rollback)."""
    classify_keys: SecretStr = SecretStr("")
    """Comma separated Bearer keys for classify and batch jobs; empty: those routes are open."""
    rate_limit_per_minute: int = Field(600, ge=0, description="requests per client per minute; 0 disables")
    trust_forwarded_for: bool = False
    """Take the client address from X-Forwarded-For (only behind a proxy you run, e.g. the nginx frontend)."""

    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 64 << 20
    max_batch_articles: int = 100_000

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

    @property
    def admin_key_list(self) -> tuple[str, ...]:
        return _keys(self.admin_keys)

    @property
    def classify_key_list(self) -> tuple[str, ...]:
        return _keys(self.classify_keys)

    def is_admin_key(self, key: str) -> bool:
        return key_matches(key, self.admin_key_list)

    def is_classify_key(self, key: str) -> bool:
        return self.is_admin_key(key) or key_matches(key, self.classify_key_list)
