"""API keys shared by every service that takes a Bearer key: named, held only as digests, constant time.

A key is configured as `name=secret`, `name=sha256:<hex digest>` (so the plain key need not sit in the
environment) or a bare `secret` (named after its digest). Only SHA-256 digests are kept in memory, and a
lookup compares the caller's digest with every configured one with `hmac.compare_digest`, without an early
exit, so neither the key nor which entry matched leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from agnews_core.errors import ConfigError

Role = Literal["admin", "client"]
_HEX = set("0123456789abcdef")


def key_matches(given: str, keys: Iterable[str]) -> bool:
    """True when `given` is one of `keys`, compared in constant time (no timing side channel)."""
    encoded = given.encode()
    return any(hmac.compare_digest(encoded, key.encode()) for key in keys)


def key_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its name (the caller's identity, e.g. a job's owner), role and digest."""

    name: str
    role: Role
    digest: bytes = field(default=b"", repr=False)

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def parse_keys(raw: str, role: Role, setting: str) -> list[ApiKey]:
    """`name=secret,name2=sha256:<hex>,bare-secret` -> keys; ConfigError naming `setting` when malformed."""
    keys = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, sep, secret = entry.partition("=")
        if not sep:
            name, secret = "", entry
        name, secret = name.strip(), secret.strip()
        if sep and (not name or not secret):
            raise ConfigError(f"{setting}: every entry must be name=key or a bare key, got an empty name or key")
        if secret.startswith("sha256:"):
            hexdigest = secret.removeprefix("sha256:").lower()
            if len(hexdigest) != 64 or not set(hexdigest) <= _HEX:
                raise ConfigError(f"{setting}: key {name!r} must be sha256:<64 hex digits>")
            digest = bytes.fromhex(hexdigest)
        else:
            digest = key_digest(secret)
        keys.append(ApiKey(name or f"{role}-{digest.hex()[:8]}", role, digest))
    return keys


class KeyRing:
    """Every configured key; `lookup` says which one (if any) a caller's secret is."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self.keys = tuple(keys)
        names = [k.name for k in self.keys]
        if len(set(names)) != len(names):
            raise ConfigError(f"API key names must be unique (they name job owners); got {sorted(names)}")

    def __bool__(self) -> bool:
        return bool(self.keys)

    def has_role(self, role: Role) -> bool:
        return any(k.role == role for k in self.keys)

    def lookup(self, secret: str) -> ApiKey | None:
        """The key whose digest matches, compared against every entry (no early exit)."""
        digest = key_digest(secret)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        return found
