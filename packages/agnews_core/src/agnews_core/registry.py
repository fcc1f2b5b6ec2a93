"""Model registry: immutable versions plus a `champion` alias, on any ArtifactStore.

Guarantees a reader can rely on:
- a version exists only once its manifest.json is written, and the manifest is written after every file;
- the alias is one small JSON object replaced in a single atomic write (compare-and-swap), and it only ever
  names a version whose manifest exists, so it never dangles and is never seen half-written.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agnews_core.errors import (
    ConflictError,
    ModelNotFoundError,
    NotFoundError,
    PromotionRefusedError,
    RegistryEmptyError,
)
from agnews_core.storage import ArtifactStore

ModelKind = Literal["transformers", "tfidf", "blend"]

PromotionGate = Callable[["ModelManifest", "ModelManifest"], "str | None"]
"""gate(candidate, champion) -> a reason to keep the champion, or None to let the candidate through."""

MODELS_PREFIX = "models"
CHAMPION_KEY = "aliases/champion.json"
MANIFEST_NAME = "manifest.json"


class ModelManifest(BaseModel):
    """What a registered version is: written last, read first."""

    version: str
    kind: ModelKind
    preset: str
    base_model: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    metrics: dict[str, Any] = Field(default_factory=dict)
    test_data_hash: str
    train_data_hash: str | None = None
    files: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    git_commit: str | None = None


class ChampionAlias(BaseModel):
    """The `champion` alias and the champions before it (oldest first), for rollback."""

    version: str
    history: list[str] = Field(default_factory=list)
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reason: str = ""


class PromotionDecision(BaseModel):
    """Outcome of `promote_if_better`, with a reason a person can read."""

    promoted: bool
    reason: str
    candidate: str
    champion: str | None
    metric: str
    candidate_value: float | None = None
    champion_value: float | None = None


def new_version_id(kind: str, now: datetime | None = None) -> str:
    """Time-sortable, unique version id: v20261126T005100-tfidf-3fa9c1."""
    now = now or datetime.now(UTC)
    return f"v{now:%Y%m%dT%H%M%S}-{kind}-{secrets.token_hex(3)}"


class ModelRegistry:
    """Publish, list, fetch and promote model versions."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    @property
    def uri(self) -> str:
        return self.store.uri

    def _key(self, version: str, name: str) -> str:
        if "/" in version or not version:
            raise ModelNotFoundError(f"invalid model version {version!r}")
        return f"{MODELS_PREFIX}/{version}/{name}"

    # -- publishing ---------------------------------------------------------------------------------------
    def publish(self, local_dir: Path, manifest: ModelManifest) -> ModelManifest:
        """Upload every file of `local_dir`, then the manifest. Refuses to overwrite a version."""
        if self.store.exists(self._key(manifest.version, MANIFEST_NAME)):
            raise ConflictError(f"model version {manifest.version} already exists; versions are immutable")
        files = sorted(p for p in local_dir.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
        names = [p.relative_to(local_dir).as_posix() for p in files]
        for path, name in zip(files, names, strict=True):
            self.store.put_file(self._key(manifest.version, name), path)
        final = manifest.model_copy(update={"files": names})
        self.store.put_bytes(self._key(manifest.version, MANIFEST_NAME), final.model_dump_json(indent=2).encode())
        return final

    def withdraw(self, version: str) -> None:
        """Delete a version the alias never named (a run cancelled after uploading it); manifest first."""
        alias = self.champion()
        if alias is not None and version in (alias.version, *alias.history):
            raise ConflictError(f"model version {version} is or was champion; it cannot be withdrawn")
        self.store.delete(self._key(version, MANIFEST_NAME))  # from here on the version does not exist
        for key in self.store.list(f"{MODELS_PREFIX}/{version}"):
            self.store.delete(key)

    # -- reading ------------------------------------------------------------------------------------------
    def get(self, version: str) -> ModelManifest:
        """Manifest of one version."""
        try:
            raw = self.store.get_bytes(self._key(version, MANIFEST_NAME))
        except NotFoundError:
            raise ModelNotFoundError(f"no model version {version!r} in registry {self.uri}") from None
        return ModelManifest.model_validate_json(raw)

    def list_versions(self) -> list[ModelManifest]:
        """Every complete version, oldest first."""
        keys = self.store.list(MODELS_PREFIX)
        versions = sorted({k.split("/")[1] for k in keys if k.endswith("/" + MANIFEST_NAME) and k.count("/") == 2})
        return sorted((self.get(v) for v in versions), key=lambda m: (m.created_at, m.version))

    def champion(self) -> ChampionAlias | None:
        """The champion alias, or None when nothing was promoted yet."""
        raw, _ = self.store.get_with_token(CHAMPION_KEY)
        return ChampionAlias.model_validate_json(raw) if raw else None

    def resolve(self, ref: str) -> str:
        """A version id for `ref` ('champion', 'latest' or a version id)."""
        if ref == "champion":
            alias = self.champion()
            if alias is None:
                raise RegistryEmptyError(f"registry {self.uri} has no champion yet; train and promote a model first")
            return alias.version
        if ref == "latest":
            versions = self.list_versions()
            if not versions:
                raise RegistryEmptyError(f"registry {self.uri} holds no model yet")
            return versions[-1].version
        return self.get(ref).version

    def read_file(self, version: str, name: str) -> bytes:
        """One artifact of a version (metrics.json, confusion_matrix.png, ...)."""
        try:
            return self.store.get_bytes(self._key(version, name))
        except NotFoundError:
            raise ModelNotFoundError(f"model version {version} has no file {name!r}") from None

    def materialize(self, version: str, cache_dir: Path) -> Path:
        """A local folder holding the version's files: the folder itself on a local store, a cached copy otherwise."""
        manifest = self.get(version)
        local = self.store.local_path(self._key(version, MANIFEST_NAME))
        if local is not None:
            return local.parent
        dest = cache_dir / version
        if (dest / MANIFEST_NAME).is_file():
            return dest
        tmp = cache_dir / f".{version}.{secrets.token_hex(4)}"
        try:
            for name in manifest.files:
                self.store.get_file(self._key(version, name), tmp / name)
            (tmp / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
        except BaseException:  # a failed download must not leave a folder behind at every retry
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            tmp.rename(dest)
        except OSError:  # another process materialised it first: theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    # -- the alias ----------------------------------------------------------------------------------------
    def _swap_alias(self, make: Callable[[ChampionAlias | None], ChampionAlias]) -> ChampionAlias:
        for _ in range(10):
            raw, token = self.store.get_with_token(CHAMPION_KEY)
            current = ChampionAlias.model_validate_json(raw) if raw else None
            new = make(current)
            try:
                self.store.put_if(CHAMPION_KEY, new.model_dump_json(indent=2).encode(), token)
                return new
            except ConflictError:
                continue
        raise ConflictError("the champion alias kept changing under a concurrent promotion; try again")

    def promote(self, version: str, reason: str = "promoted by hand") -> ChampionAlias:
        """Point `champion` at `version` unconditionally (it must exist)."""
        self.get(version)

        def make(current: ChampionAlias | None) -> ChampionAlias:
            if current is None:
                return ChampionAlias(version=version, reason=reason)
            if current.version == version:
                return current
            return ChampionAlias(version=version, history=[*current.history, current.version], reason=reason)

        return self._swap_alias(make)

    def rollback(self) -> ChampionAlias:
        """Move `champion` back to the previous champion."""

        def make(current: ChampionAlias | None) -> ChampionAlias:
            if current is None:
                raise RegistryEmptyError(f"registry {self.uri} has no champion to roll back")
            if not current.history:
                raise ConflictError(f"champion {current.version} has no previous champion to roll back to")
            return ChampionAlias(
                version=current.history[-1],
                history=current.history[:-1],
                reason=f"rollback from {current.version}",
            )

        return self._swap_alias(make)

    def promote_if_better(
        self,
        candidate: ModelManifest,
        metric: str = "accuracy",
        min_delta: float = 0.0,
        gate: PromotionGate | None = None,
    ) -> PromotionDecision:
        """Promote `candidate` only if it beats the champion by `metric` on the same test data (same hash).

        `gate(candidate, champion)`, when given, runs on a candidate that would win and may veto it with a reason
        (the trainer's paired significance test); it sees the same champion the alias swap compares against.
        """
        decisions: list[PromotionDecision] = []

        def make(current: ChampionAlias | None) -> ChampionAlias:
            champ = self.get(current.version) if current else None
            decision = decide_promotion(candidate, champ, metric, min_delta)
            if decision.promoted and champ is not None and gate is not None:
                veto = gate(candidate, champ)
                if veto:
                    decision = decision.model_copy(update={"promoted": False, "reason": veto})
            decisions.append(decision)
            if not decision.promoted:
                raise _NoChange
            history = [*current.history, current.version] if current else []
            return ChampionAlias(version=candidate.version, history=history, reason=decision.reason)

        with contextlib.suppress(_NoChange):
            self._swap_alias(make)
        return decisions[-1]


def decide_promotion(
    candidate: ModelManifest, champion: ModelManifest | None, metric: str, min_delta: float
) -> PromotionDecision:
    """The promotion rule, as a pure function: better on the same test data, or no champion yet."""
    value = _metric(candidate, metric)
    if champion is None:
        return PromotionDecision(
            promoted=True,
            reason="no champion yet",
            candidate=candidate.version,
            champion=None,
            metric=metric,
            candidate_value=value,
        )
    champ_value = _metric(champion, metric)

    def result(promoted: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            promoted=promoted,
            reason=reason,
            candidate=candidate.version,
            champion=champion.version,
            metric=metric,
            candidate_value=value,
            champion_value=champ_value,
        )

    if champion.test_data_hash != candidate.test_data_hash:
        return result(
            False,
            "refused: candidate was evaluated on different test data "
            f"(hash {candidate.test_data_hash[:12]} vs champion's {champion.test_data_hash[:12]})",
        )
    if value <= champ_value + min_delta:
        return result(
            False, f"kept champion: {metric} {value:.4f} does not beat {champ_value:.4f} by more than {min_delta}"
        )
    return result(True, f"{metric} {value:.4f} beats champion's {champ_value:.4f}")


class _NoChange(Exception):
    """Internal: the alias stays as it is."""


def _metric(manifest: ModelManifest, metric: str) -> float:
    try:
        return float(manifest.metrics[metric])
    except (KeyError, TypeError, ValueError):
        raise PromotionRefusedError(f"model {manifest.version} has no numeric metric {metric!r}") from None


def manifests_to_json(manifests: Iterable[ModelManifest]) -> str:
    """JSON list of manifests (CLI output)."""
    return json.dumps([m.model_dump(mode="json") for m in manifests], indent=2)
