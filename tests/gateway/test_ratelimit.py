"""Who a request counts against: trusted proxy hops, keys that are not configured, the token bucket."""

from __future__ import annotations

import pytest
from agnews_core.auth import KeyRing, parse_keys
from agnews_gateway.ratelimit import client_address, client_identity

XFF = b"x-forwarded-for"


@pytest.mark.parametrize(
    ("header", "hops", "client"),
    [
        (b"6.6.6.6", 0, "10.0.0.9"),  # no trusted proxy: the header is the caller's own words
        (b"6.6.6.6, 1.2.3.4", 1, "1.2.3.4"),  # nginx appended the real client to a spoofed entry
        (b"1.2.3.4", 1, "1.2.3.4"),
        (b"6.6.6.6, 1.2.3.4, 10.1.1.1", 2, "1.2.3.4"),  # Ingress + nginx
        (b"1.2.3.4", 2, "1.2.3.4"),  # fewer entries than hops: every entry is a proxy's
        (b"", 1, "10.0.0.9"),
    ],
)
def test_client_address_through_trusted_hops(header: bytes, hops: int, client: str) -> None:
    assert client_address({XFF: header}, "10.0.0.9", hops) == client


def test_only_configured_keys_get_their_own_bucket() -> None:
    ring = KeyRing(parse_keys("alice=alice-secret", "client", "C"))

    def scope(auth: bytes) -> dict[str, object]:
        return {"headers": [(b"authorization", auth), (XFF, b"9.9.9.9")], "client": ("10.0.0.9", 1)}

    assert client_identity(scope(b"Bearer alice-secret"), ring, 1) == ("key:alice", "alice")
    assert client_identity(scope(b"Bearer guess"), ring, 1) == ("ip:9.9.9.9", None)
    assert client_identity(scope(b"Basic alice-secret"), ring, 0) == ("ip:10.0.0.9", None)
