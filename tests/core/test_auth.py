from __future__ import annotations

from agnews_core.auth import key_matches


def test_key_matches_only_listed_keys() -> None:
    assert key_matches("s3cret", ["other", "s3cret"])
    assert not key_matches("s3cre", ["s3cret"])
    assert not key_matches("s3cret", [])
    assert not key_matches("", ["s3cret"])
