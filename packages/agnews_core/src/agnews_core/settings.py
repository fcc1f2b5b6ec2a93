"""Settings pieces every service shares; each service defines its own class with its env prefix."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from agnews_core.registry import ModelRegistry
from agnews_core.storage import ArtifactStore, open_store


class RegistrySettings(BaseSettings):
    """Where the artifact store lives. Mixed into each service's settings (so GATEWAY_REGISTRY_URI etc.)."""

    registry_uri: str = "registry"
    """A folder path, file:///path or s3://bucket/prefix."""
    s3_endpoint_url: str | None = None
    """Custom S3 API endpoint (MinIO, moto, ...); unset on AWS."""
    s3_region: str | None = None

    def open_store(self) -> ArtifactStore:
        return open_store(self.registry_uri, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region)

    def open_registry(self) -> ModelRegistry:
        return ModelRegistry(self.open_store())
