from __future__ import annotations

from agnews_core.auth import key_matches


def test_key_matches_only_listed_keys() -> None:
    assert key_matches("s3cret", ["other", "s3cret"])
    assert not key_matches("s3cre", ["s3cret"])
    assert not key_matches("s3cret", [])
    assert not key_matches("", ["s3cret"])


def test_key_ring_names_keys_and_keeps_only_digests() -> None:
    import hashlib

    import pytest
    from agnews_core.auth import KeyRing, parse_keys
    from agnews_core.errors import ConfigError

    hashed = "sha256:" + hashlib.sha256(b"bob-secret").hexdigest()
    ring = KeyRing(
        parse_keys("ops=root-secret", "admin", "A") + parse_keys(f"alice=a1, bob={hashed},bare", "client", "C")
    )
    assert ring.lookup("root-secret").name == "ops" and ring.lookup("root-secret").admin  # type: ignore[union-attr]
    assert ring.lookup("bob-secret").name == "bob"  # type: ignore[union-attr]
    assert ring.lookup("bare").name.startswith("client-")  # type: ignore[union-attr]
    assert ring.lookup("a") is None and ring.lookup("") is None and ring.lookup("a1 ") is None
    assert "root-secret" not in repr(ring.keys) and "a1" not in repr(ring.keys)
    with pytest.raises(ConfigError, match="unique"):
        KeyRing(parse_keys("x=1,x=2", "client", "C"))
    with pytest.raises(ConfigError, match="64 hex"):
        parse_keys("x=sha256:abc", "client", "C")
