from __future__ import annotations

import threading
from pathlib import Path

import pytest
from agnews_core.errors import ConflictError, ModelNotFoundError, RegistryEmptyError, StorageError
from agnews_core.registry import ModelManifest, ModelRegistry, new_version_id
from agnews_core.storage import LocalStore, S3Store, open_store


def _publish(reg: ModelRegistry, tmp: Path, acc: float, data_hash: str = "h1") -> ModelManifest:
    d = tmp / f"m{acc}-{data_hash}"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    (d / "model.bin").write_bytes(b"w" * 100)
    (d / "sub" / "tokenizer.json").write_text("{}")
    manifest = ModelManifest(
        version=new_version_id("tfidf"),
        kind="tfidf",
        preset="tfidf",
        test_data_hash=data_hash,
        metrics={"accuracy": acc, "macro_f1": acc},
    )
    return reg.publish(d, manifest)


@pytest.fixture(params=["local", "s3"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> ModelRegistry:
    if request.param == "local":
        return ModelRegistry(LocalStore(tmp_path / "reg"))
    s3 = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return ModelRegistry(open_store(f"s3://{bucket}/models-root", s3_endpoint_url=s3.endpoint_url))


def test_publish_lists_files_and_is_immutable(registry: ModelRegistry, tmp_path: Path) -> None:
    m = _publish(registry, tmp_path, 0.8)
    assert sorted(m.files) == ["model.bin", "sub/tokenizer.json"]
    assert registry.get(m.version) == m
    assert [v.version for v in registry.list_versions()] == [m.version]
    with pytest.raises(ConflictError, match="immutable"):
        registry.publish(tmp_path / "m0.8-h1", m)


def test_promotion_rules_and_rollback(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryEmptyError, match="no champion"):
        registry.resolve("champion")
    first = _publish(registry, tmp_path, 0.80)
    assert registry.promote_if_better(first).promoted
    worse = _publish(registry, tmp_path, 0.70)
    equal = _publish(registry, tmp_path, 0.80)
    for candidate in (worse, equal):
        decision = registry.promote_if_better(candidate)
        assert not decision.promoted and "kept champion" in decision.reason
    other_data = _publish(registry, tmp_path, 0.99, data_hash="h2")
    refused = registry.promote_if_better(other_data)
    assert not refused.promoted and "different test data" in refused.reason
    better = _publish(registry, tmp_path, 0.90)
    assert registry.promote_if_better(better).promoted
    assert registry.resolve("champion") == better.version
    alias = registry.rollback()
    assert alias.version == first.version and alias.history == []
    with pytest.raises(ConflictError, match="no previous champion"):
        registry.rollback()


def test_materialize_gives_a_complete_folder(registry: ModelRegistry, tmp_path: Path) -> None:
    m = _publish(registry, tmp_path, 0.5)
    folder = registry.materialize(m.version, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == b"w" * 100
    assert (folder / "sub" / "tokenizer.json").is_file()
    assert (folder / "manifest.json").is_file()
    with pytest.raises(ModelNotFoundError):
        registry.get("v-nope")


def test_alias_is_never_seen_half_written_or_dangling(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "reg"))
    versions = [_publish(registry, tmp_path, 0.5 + i / 100) for i in range(20)]
    registry.promote(versions[0].version)
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                alias = registry.champion()
                assert alias is not None
                registry.get(alias.version)  # never dangling
                seen.add(alias.version)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for m in versions[1:]:
        assert registry.promote_if_better(m).promoted
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(seen) > 1


def test_concurrent_promotions_do_not_lose_history(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalStore(tmp_path / "reg"))
    base = _publish(registry, tmp_path, 0.1)
    registry.promote(base.version)
    candidates = [_publish(registry, tmp_path, 0.2 + i / 100) for i in range(8)]
    threads = [threading.Thread(target=registry.promote, args=(m.version,)) for m in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alias = registry.champion()
    assert alias is not None
    # Every promotion landed exactly once: the champion plus its history hold all nine versions.
    assert sorted([*alias.history, alias.version]) == sorted([base.version] + [m.version for m in candidates])


def test_open_store_parses_uris(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    s3 = open_store("s3://bucket/some/prefix", s3_endpoint_url="http://127.0.0.1:1")
    assert isinstance(s3, S3Store) and s3.prefix == "some/prefix"
    with pytest.raises(StorageError, match="unsupported"):
        open_store("ftp://x/y")


def test_unreachable_s3_is_a_clear_storage_error() -> None:
    from agnews_core.storage import S3Store

    store = S3Store("bucket", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageError, match="unreachable"):
        store.get_bytes("x")
