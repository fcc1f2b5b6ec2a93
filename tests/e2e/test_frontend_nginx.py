"""The frontend's nginx config on its own: headers, gzip, the /api/ prefix, and nginx's own errors as JSON.

No browser and no stack: the upstream here is a tiny echo server that reports the path and headers nginx
sent it, which is what the proxy rules are about. The page itself is tested against the real gateway in
test_frontend.py.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from frontend_helpers import RENDER, Nginx, dead_gateway_url, nginx_binary, running_nginx

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/frontend-deps.sh)")


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items()), "pad": "x" * 2000}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def nginx(echo_url: str) -> Iterator[Nginx]:
    with running_nginx(echo_url, max_body="64k") as server:
        yield server


def test_rendered_config_passes_nginx_t(echo_url: str) -> None:
    with running_nginx(echo_url) as server:
        result = subprocess.run(
            [str(nginx_binary()), "-e", "stderr", "-t", "-c", str(server.conf), "-p", str(server.conf.parent)],
            capture_output=True,
            text=True,
        )
        text = server.conf.read_text()
    assert result.returncode == 0, result.stderr
    assert not re.search(r"@[A-Z_]+@", text)
    assert f"root {Path(__file__).resolve().parents[2] / 'services/frontend/public'};" in text


def test_render_refuses_unsafe_values(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_URL": "https://gw:443", "FRONTEND_PREFIX": str(tmp_path)}
    result = subprocess.run(["bash", str(RENDER), str(tmp_path / "c.conf")], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "GATEWAY_URL" in result.stderr
    env = {"PATH": "/usr/bin:/bin", "FRONTEND_LISTEN": "127.0.0.1:80; evil", "FRONTEND_PREFIX": str(tmp_path)}
    result = subprocess.run(["bash", str(RENDER), str(tmp_path / "c.conf")], env=env, capture_output=True, text=True)
    assert result.returncode == 2


def test_page_headers(nginx: Nginx) -> None:
    status, headers, body = nginx.get("/")
    assert status == 200
    assert b'<script type="module" src="js/main.js"></script>' in body
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["cache-control"] == "no-cache"
    assert headers["x-content-type-options"] == "nosniff"
    assert "etag" in headers
    assert headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("path", "kind"), [("js/bulk.js", "application/javascript"), ("styles.css", "text/css")])
def test_assets_cached_and_gzipped(nginx: Nginx, path: str, kind: str) -> None:
    status, headers, body = nginx.get(path, headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-type"].startswith(kind)
    assert "max-age=" in headers["cache-control"]
    assert headers.get("content-encoding") == "gzip"
    assert "content-security-policy" in headers  # the server-level headers survive in every location
    assert len(gzip.decompress(body)) > len(body)


def test_every_module_the_page_imports_is_served_as_javascript(nginx: Nginx) -> None:
    # Browsers refuse an ES module served with another MIME type, so a missing `types` entry breaks the page.
    seen: set[str] = set()
    todo = ["js/main.js"]
    while todo:
        path = todo.pop()
        status, headers, body = nginx.get(path)
        assert status == 200, path
        assert headers["content-type"].startswith("application/javascript"), (path, headers["content-type"])
        seen.add(path)
        for name in re.findall(rb'^import .* from "\./([\w-]+\.js)";$', body, flags=re.M):
            if f"js/{name.decode()}" not in seen:
                todo.append(f"js/{name.decode()}")
    assert {"js/main.js", "js/api.js", "js/classify.js", "js/bulk.js", "js/models.js"} <= seen


def test_api_prefix_is_stripped(nginx: Nginx) -> None:
    status, headers, body = nginx.get("/api/v1/models?x=1")
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/v1/models?x=1"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Prefix"] == "/api"
    assert "cache-control" not in headers  # API caching is the gateway's business


def test_api_responses_gzipped(nginx: Nginx) -> None:
    status, headers, body = nginx.get("/api/v1/jobs", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(body))["path"] == "/v1/jobs"


def test_body_over_nginx_cap_is_json_413(nginx: Nginx) -> None:
    status, headers, body = nginx.request("POST", "/api/v1/batch-jobs", body=b"x" * 100_000)
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert "larger than the server accepts" in json.loads(body)["detail"]


def test_gateway_down_is_json_503() -> None:
    with running_nginx(dead_gateway_url()) as server:
        status, headers, body = server.get("/api/v1/models")
        page_status, _, _ = server.get("/")
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert "gateway is not reachable" in json.loads(body)["detail"]
    assert page_status == 200


def test_unknown_path_is_404(nginx: Nginx) -> None:
    status, _, _ = nginx.get("/nope.html")
    assert status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/metrics",
        "/api/docs",
        "/api/readyz",
        "/api/healthz",
        "/api/openapi.json",
        "/api/v1/../metrics",
        "/api/v1/%2e%2e/readyz",
        "/api/v2/x",
    ],
)
def test_only_the_public_api_is_proxied(nginx: Nginx, path: str) -> None:
    status, headers, body = nginx.get(path)
    assert status == 404, path
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"detail": "Not Found"}
