"""The shadow challenger's shared parts: which version is in shadow (a small file beside the champion alias)
and its agreement with the champion (counters in Redis).

The gateway writes `aliases/shadow.json` (admin POST/DELETE /v1/models/{version}/shadow); inference polls it
like the champion alias, loads that version beside the champion and scores a share of live traffic with it
in the background. Agreement counts and the shadow's label per prediction_id go to Redis, so feedback gives
the shadow a live accuracy too, side by side with the champion's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from agnews_core.errors import NotFoundError
from agnews_core.feedback import PREFIX
from agnews_core.storage import ArtifactStore

SHADOW_KEY = "aliases/shadow.json"


@dataclass(frozen=True)
class ShadowConfig:
    version: str
    share: float
    updated_at: str


def read_shadow(store: ArtifactStore) -> ShadowConfig | None:
    try:
        doc = json.loads(store.get_bytes(SHADOW_KEY))
    except NotFoundError:
        return None
    return ShadowConfig(str(doc["version"]), float(doc["share"]), str(doc.get("updated_at", "")))


def write_shadow(store: ArtifactStore, version: str, share: float) -> ShadowConfig:
    config = ShadowConfig(version, share, datetime.now(UTC).isoformat(timespec="seconds"))
    store.put_bytes(SHADOW_KEY, json.dumps(config.__dict__).encode())
    return config


def clear_shadow(store: ArtifactStore) -> None:
    store.delete(SHADOW_KEY)


def _agreement_key(champion: str, shadow: str) -> str:
    return f"{PREFIX}shadow:{champion}\x1f{shadow}"


def _shadow_pred_key(prediction_id: str) -> str:
    return f"{PREFIX}shadowpred:{prediction_id}"


class ShadowStats:
    """Agreement per (champion, shadow) pair, and the shadow's label for each scored prediction_id."""

    def __init__(self, client: redis.Redis, ttl_s: int = 6 * 3600) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def add(self, champion: str, shadow: str, rows: Iterable[tuple[str, str, bool]]) -> None:
        """(prediction_id, shadow label, agrees with the champion) rows, one round trip."""
        pipe = self.client.pipeline(transaction=False)
        agree = total = 0
        for prediction_id, label, agrees in rows:
            pipe.set(_shadow_pred_key(prediction_id), json.dumps([shadow, label]), ex=self.ttl_s)
            total += 1
            agree += agrees
        if total:
            pipe.hincrby(_agreement_key(champion, shadow), "total", total)
            pipe.hincrby(_agreement_key(champion, shadow), "agree", agree)
            pipe.expire(_agreement_key(champion, shadow), 30 * 24 * 3600)
            pipe.execute()

    def shadow_label(self, prediction_id: str) -> tuple[str, str] | None:
        raw = self.client.get(_shadow_pred_key(prediction_id))
        if raw is None:
            return None
        version, label = json.loads(raw)
        return str(version), str(label)

    def agreement(self, champion: str, shadow: str) -> tuple[int, int]:
        """(scored, agreeing) predictions of the pair."""
        raw: dict[Any, Any] = self.client.hgetall(_agreement_key(champion, shadow))
        values = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
        return values.get("total", 0), values.get("agree", 0)
