"""One hostile-world stack for the abuse suite: the real stack (tests/stack.py) behind the real nginx.

Redis, inference (a tiny real transformer champion, so its real tokenizer sees what callers send), the
batch worker and the gateway, configured as a public deployment would be: two named client keys, anonymous
access on, 600/min with a burst of 60 per address, one trusted proxy hop (the nginx in front).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from frontend_helpers import Nginx, running_nginx
from stack import Stack

PER_MINUTE, BURST = 600, 60
MAX_UPLOAD = 16 << 20


@dataclass
class Abuse:
    stack: Stack
    nginx: Nginx
    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]

    def gateway(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return self.stack.client(headers=headers or {})

    @property
    def gateway_pid(self) -> int:
        return self.stack.procs["gateway"].popen.pid

    def peak_rss_mib(self) -> float:
        """The gateway process's peak resident set (VmHWM): what the kernel saw at its worst."""
        return _status_kib(self.gateway_pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return _status_kib(self.gateway_pid, "VmRSS") / 1024

    def assert_healthy(self) -> None:
        """Every service still up and ready, and the stack still answers a normal request."""
        for name in ("redis", "inference", "batch", "gateway"):
            assert self.stack.procs[name].alive(), f"{name} died\n{self.stack.logs(name)}"
        with self.gateway(self.alice) as client:
            assert client.get("/readyz").status_code == 200, client.get("/readyz").text
            ok = client.post("/v1/classify", json={"texts": ["Federer wins the final"]})
            assert ok.status_code == 200, ok.text
        assert httpx.get(f"{self.stack.inference_url}/readyz", timeout=10).status_code == 200


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


@pytest.fixture(scope="package")
def abuse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Abuse]:
    keys = {name: f"{name}-{secrets.token_hex(12)}" for name in ("alice", "bob", "ops")}
    env = {
        "GATEWAY_ADMIN_KEYS": f"ops={keys['ops']}",
        "GATEWAY_CLIENT_KEYS": f"alice={keys['alice']},bob={keys['bob']}",
        "GATEWAY_ANONYMOUS_ACCESS": "true",
        "GATEWAY_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
        "GATEWAY_RATE_LIMIT_BURST": str(BURST),
        "GATEWAY_KEY_RATE_LIMITS": "alice=100000,bob=100000,ops=100000",
        "GATEWAY_TRUSTED_PROXY_HOPS": "1",
        "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "GATEWAY_BATCH_CHUNK_PAUSE_S": "0",
    }
    with (
        Stack.start(
            tmp_path_factory.mktemp("abuse"),
            champion="transformers",
            training=False,
            admin_key=keys["ops"],
            gateway_env=env,
        ) as stack,
        running_nginx(stack.gateway_url, max_body="200m") as nginx,
    ):
        bearer = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
        yield Abuse(stack, nginx, bearer["alice"], bearer["bob"], bearer["ops"])


@pytest.fixture
def healthy_after(abuse: Abuse) -> Iterator[Abuse]:
    """Every abuse test ends by checking that the stack survived it."""
    yield abuse
    abuse.assert_healthy()
