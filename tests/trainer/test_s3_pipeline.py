"""End to end on S3: data from an s3:// zip, the registry in a bucket, both on a real S3 API server."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from agnews_core.errors import StorageError
from agnews_core.registry import ModelRegistry
from agnews_core.storage import open_store
from agnews_trainer.config import RunConfig
from agnews_trainer.pipeline import evaluate_registered, run_pipeline
from stack import free_port


def test_pipeline_with_s3_data_and_s3_registry(
    agnews_folder: Path, tmp_path: Path, s3_server: Any, s3_bucket: str
) -> None:
    archive = tmp_path / "agnews.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in agnews_folder.iterdir():
            zf.write(path, f"ag_news_csv/{path.name}")
    s3_server.client().upload_file(str(archive), s3_bucket, "data/agnews.zip")

    cfg = RunConfig(
        data=f"s3://{s3_bucket}/data/agnews.zip",
        registry_uri=f"s3://{s3_bucket}/registry",
        s3_endpoint_url=s3_server.endpoint_url,
        work_dir=tmp_path / "work",
        preset="tfidf",
        latency_samples=2,
    )
    result = run_pipeline(cfg)
    assert result.promoted and result.registry_uri == f"s3://{s3_bucket}/registry"

    registry = ModelRegistry(open_store(cfg.registry_uri, s3_endpoint_url=s3_server.endpoint_url))
    keys = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="registry/")["Contents"]
    names = {k["Key"] for k in keys}
    assert f"registry/models/{result.version}/manifest.json" in names
    assert f"registry/models/{result.version}/model.joblib" in names
    assert "registry/aliases/champion.json" in names
    champion = registry.champion()
    assert champion is not None and champion.version == result.version

    evaluated = evaluate_registered(registry, "champion", str(agnews_folder), tmp_path / "cache")
    assert evaluated["version"] == result.version and evaluated["accuracy"] == result.accuracy
    assert (tmp_path / "cache" / result.version / "model.joblib").is_file()


def test_unreachable_s3_registry_fails_before_any_work(agnews_folder: Path, tmp_path: Path) -> None:
    cfg = RunConfig(
        data=str(agnews_folder),
        registry_uri="s3://agnews/registry",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        work_dir=tmp_path / "work",
        preset="tfidf",
    )
    with pytest.raises(StorageError, match="S3 unreachable"):
        run_pipeline(cfg)
    assert not (tmp_path / "work").exists()
