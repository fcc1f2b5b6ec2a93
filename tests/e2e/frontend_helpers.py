"""Real nginx with the project's own config, and Debian's headless Chromium, for the newsroom page tests.

nginx runs as the current user from a rendered copy of services/frontend/nginx.conf (the same render
script `make run` uses), on a free port, with every writable path under a temporary prefix.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RENDER = REPO / "scripts" / "frontend-render.sh"
ARTIFACTS = REPO / "test-artifacts" / "frontend"
CHROMIUM = "/usr/bin/chromium"
# Flags from ../shared/TOOLING.md: no sandbox (containers), no GPU, no background traffic to outside hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def nginx_binary() -> str | None:
    """Path of nginx (Debian puts it in /usr/sbin, often outside a user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    """A running nginx serving the page; `url` ends with a slash."""

    url: str
    port: int
    conf: Path
    proc: subprocess.Popen[bytes]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET through nginx: status, headers (lower-case names), body; errors are returned, not raised."""
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path.lstrip("/"), data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def render_config(prefix: Path, gateway_url: str, port: int, max_body: str = "100m") -> Path:
    """Fill the template with scripts/frontend-render.sh, exactly as `make run` does."""
    conf = prefix / "nginx.conf"
    env = dict(
        os.environ,
        FRONTEND_LISTEN=f"127.0.0.1:{port}",
        GATEWAY_URL=gateway_url,
        FRONTEND_PREFIX=str(prefix),
        FRONTEND_MAX_BODY=max_body,
    )
    subprocess.run(["bash", str(RENDER), str(conf)], env=env, check=True, capture_output=True)
    return conf


@contextmanager
def running_nginx(gateway_url: str, max_body: str = "100m") -> Iterator[Nginx]:
    """Start nginx in the foreground (`daemon off` is in the config) and stop it by its PID.

    The prefix is a fresh world-readable folder, not pytest's tmp_path: started as root, nginx runs its
    workers as `nobody`, which cannot enter pytest's 0700 folders to buffer a large upload.
    """
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: run scripts/frontend-deps.sh")
    prefix = Path(tempfile.mkdtemp(prefix="agnews-nginx-"))
    prefix.chmod(0o755)
    port = _free_port()
    conf = render_config(prefix, gateway_url, port, max_body)
    log = (prefix / "nginx.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-e", "stderr", "-c", str(conf), "-p", str(prefix)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_for_port(port, proc, prefix / "nginx.log")
        yield Nginx(url=f"http://127.0.0.1:{port}/", port=port, conf=conf, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(prefix, ignore_errors=True)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx is not listening on {port} after {timeout}s")


def dead_gateway_url() -> str:
    """A gateway address where nothing listens: nginx cannot connect, as when the gateway is down."""
    return f"http://127.0.0.1:{_free_port()}"


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (test-artifacts/frontend/<name>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
