"""API key checks shared by every service that takes a Bearer key."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def key_matches(given: str, keys: Iterable[str]) -> bool:
    """True when `given` is one of `keys`, compared in constant time (no timing side channel)."""
    encoded = given.encode()
    return any(hmac.compare_digest(encoded, key.encode()) for key in keys)
