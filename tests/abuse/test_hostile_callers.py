"""Hostile callers against the real stack: every attack of issue 8's table, and a few more.

Each test asserts the status and the exact `detail`, that nobody else's data shows, and (through the
`healthy_after` fixture) that every service is still up and ready afterwards. Tests run in file order:
the rate-limit ones come last, since they empty the shared bucket of 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import BURST, MAX_UPLOAD, PER_MINUTE, Abuse
from stack import wait_job

pytestmark = [pytest.mark.abuse, pytest.mark.slow]

NEWS = b"Federer wins his fifth Wimbledon title\nOil prices climb as supply fears grow\n"


def test_others_jobs_are_invisible_and_untouchable(healthy_after: Abuse) -> None:
    abuse = healthy_after
    with abuse.gateway(abuse.alice) as alice, abuse.gateway(abuse.bob) as bob, abuse.gateway() as anonymous:
        job = alice.post("/v1/batch-jobs", files={"file": ("mine.txt", NEWS)}).json()
        assert job["owner"] == "alice"
        assert wait_job(alice, job["id"])["state"] == "succeeded"
        listing = anonymous.get("/v1/jobs")
        assert listing.status_code == 401
        assert listing.json()["detail"] == (
            "listing jobs needs an API key: send 'Authorization: Bearer <key>' (anonymous callers use a job by its id)"
        )
        assert bob.get("/v1/jobs").json()["jobs"] == []
        not_found = f"no job with id {job['id']!r} (unknown, or expired)"
        for client in (bob, anonymous):
            for method, path in (("GET", ""), ("GET", "/result"), ("DELETE", "")):
                response = client.request(method, f"/v1/jobs/{job['id']}{path}")
                assert response.status_code == 404 and response.json()["detail"] == not_found
                assert "Federer" not in response.text
        # alice still has her job and her CSV; the admin sees it too
        assert alice.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"
        assert "Federer" in alice.get(f"/v1/jobs/{job['id']}/result").text
        with abuse.gateway(abuse.admin) as admin:
            assert job["id"] in [j["id"] for j in admin.get("/v1/jobs").json()["jobs"]]
        # an anonymous job is usable by its id, and by nobody with a key
        anon_job = anonymous.post("/v1/batch-jobs", files={"file": ("a.txt", NEWS)}).json()
        assert anon_job["owner"] is None
        assert wait_job(anonymous, anon_job["id"])["state"] == "succeeded"
        assert alice.get(f"/v1/jobs/{anon_job['id']}").status_code == 404


def test_job_views_hold_no_internal_detail(healthy_after: Abuse) -> None:
    abuse = healthy_after
    with abuse.gateway(abuse.alice) as alice:
        job = alice.post("/v1/batch-jobs", files={"file": ("news.txt", NEWS)}).json()
        done = wait_job(alice, job["id"])
    assert set(done["params"]) <= {"filename", "format", "n_articles", "size_bytes"}
    assert set(done["result"]) <= {"n", "counts", "result_url", "model_versions"}
    shown = str(done)
    assert abuse.stack.registry_uri not in shown and "input.txt" not in shown and "result.csv" not in shown


def test_idempotency_keys_are_scoped_per_caller(healthy_after: Abuse) -> None:
    abuse = healthy_after
    idem = {"Idempotency-Key": "nightly-run"}
    with abuse.gateway(abuse.alice | idem) as alice, abuse.gateway(abuse.bob | idem) as bob:
        first = alice.post("/v1/batch-jobs", files={"file": ("a.txt", NEWS)}).json()
        second = bob.post("/v1/batch-jobs", files={"file": ("b.txt", b"Stocks rally\n")}).json()
        assert second["id"] != first["id"] and second["owner"] == "bob" and second["params"]["filename"] == "b.txt"
        assert alice.post("/v1/batch-jobs", files={"file": ("a.txt", NEWS)}).json()["id"] == first["id"]


def _chunked(port: int, path: str, total: int, chunk: int = 1 << 20) -> tuple[int, str, int]:
    """Send `total` bytes of JSON-ish body with Transfer-Encoding: chunked on a raw socket while reading
    the answer; (status, body, bytes sent before the server stopped taking them)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    sent = 0

    def pump() -> None:
        nonlocal sent
        try:
            sock.sendall(head.encode())
            piece = f"{chunk:x}\r\n".encode() + b"y" * chunk + b"\r\n"
            while sent < total:
                sock.sendall(piece)
                sent += chunk
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: exactly what we want

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
        sender.join(10)
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1].decode(), sent


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_a_100_mb_chunked_body_is_413_at_the_edge(healthy_after: Abuse) -> None:
    abuse = healthy_after
    before = abuse.rss_mib()
    status, body, sent = _chunked(abuse.stack.gateway_port, "/v1/classify", 100 << 20)
    assert status == 413, body
    assert body == '{"detail":"request body larger than 1048576 bytes (the limit, GATEWAY_MAX_BODY_BYTES)"}'
    assert sent < 100 << 20  # refused while streaming, not after reading it all
    assert abuse.rss_mib() < before + 50, (before, abuse.rss_mib())


def test_millions_of_tiny_lines_stop_at_the_article_cap(healthy_after: Abuse) -> None:
    abuse = healthy_after
    tiny = b"a\n" * ((MAX_UPLOAD - 4096) // 2)  # ~8.4 million lines just under the upload limit
    before = abuse.rss_mib()
    with abuse.gateway(abuse.alice) as alice:
        response = alice.post("/v1/batch-jobs", files={"file": ("tiny.txt", tiny)})
        assert response.status_code == 413
        assert response.json()["detail"] == "the file holds more than 100000 articles; split it into smaller files"
        too_big = alice.post("/v1/batch-jobs", files={"file": ("big.txt", b"x" * (MAX_UPLOAD + 1))})
        assert too_big.status_code == 413
        assert (
            too_big.json()["detail"]
            == f"request body larger than {MAX_UPLOAD} bytes (the limit, GATEWAY_MAX_UPLOAD_BYTES)"
        )
        assert alice.get("/v1/jobs").json()["jobs"] == [
            j for j in alice.get("/v1/jobs").json()["jobs"] if j["params"]["filename"] != "tiny.txt"
        ]
    assert abuse.rss_mib() < before + 100, (before, abuse.rss_mib())


@pytest.mark.parametrize(
    "body",
    [{"texts": [""]}, {"texts": ["   "]}, {"texts": ["ok", "\u0000\u0007"]}, {"articles": [{"title": "<br/>"}]}],
)
def test_empty_texts_are_422(healthy_after: Abuse, body: dict[str, Any]) -> None:
    with healthy_after.gateway(healthy_after.alice) as client:
        response = client.post("/v1/classify", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].endswith(": empty once cleaned (whitespace, markup or control characters only)")


def test_unknown_preset_and_paths_are_422_at_the_door(healthy_after: Abuse) -> None:
    with healthy_after.gateway(healthy_after.admin) as admin:
        queued = len(admin.get("/v1/jobs", params={"type": "training"}).json()["jobs"])  # the fuzzer's, if any
        for body, detail in (
            (
                {"preset": "nonexistent"},
                "unknown preset 'nonexistent': choose one of tfidf, minilm, minilm-blend, sbert, roberta, bert, "
                "albert, xlnet "
                "(Hub ids and model paths need GATEWAY_TRAINING_PRESETS_EXTRA=true)",
            ),
            ({"preset": "../../etc"}, "unknown preset '../../etc'"),
            ({"preset": "tfidf", "data": "/etc"}, "'data' is not accepted"),
        ):
            response = admin.post("/v1/training-jobs", json=body)
            assert response.status_code == 422 and response.json()["detail"].startswith(detail), response.text
        assert len(admin.get("/v1/jobs", params={"type": "training"}).json()["jobs"]) == queued


def test_poison_text_fails_nobody(healthy_after: Abuse) -> None:
    """2 clients send the entity that became a lone surrogate while 6 classify normal text: all 200."""
    abuse = healthy_after
    poison = ["Stocks #55296; rally", "Stocks \ud800 rally", "Stocks &#xdfff; rally"]

    def call(i: int) -> tuple[int, int]:
        texts = [poison[i % 3]] if i % 4 == 0 else [f"Federer wins the final, day {i}"]
        body = json.dumps({"texts": texts}).encode()  # ASCII-escaped: "\ud800" goes over the wire as JSON has it
        with abuse.gateway(abuse.alice) as client:
            response = client.post("/v1/classify", content=body, headers={"Content-Type": "application/json"})
            return i % 4, response.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(call, range(320)))
    normal = [c for kind, c in codes if kind]
    assert len(normal) == 240 and set(normal) == {200}
    assert {c for kind, c in codes if not kind} == {200}
    with abuse.gateway(abuse.alice) as alice:
        lines = "\n".join(json.dumps({"text": text}) for text in poison * 20 + ["Federer wins"]).encode()
        job = alice.post("/v1/batch-jobs", files={"file": ("p.jsonl", lines)}).json()
        assert wait_job(alice, job["id"])["state"] == "succeeded"


@pytest.mark.parametrize("raw", ["%2e%2e", "%2e", "%00", "a%00b", "%ff%fe", "..%2f..%2fetc"])
def test_odd_version_names_are_404(healthy_after: Abuse, raw: str) -> None:
    with healthy_after.gateway(healthy_after.alice) as client:
        for method, suffix in (("GET", "confusion-matrix.png"), ("POST", "promote")):
            url = httpx.URL(f"{healthy_after.stack.gateway_url}/v1/models/x/{suffix}").copy_with(
                raw_path=f"/v1/models/{raw}/{suffix}".encode()
            )
            headers = healthy_after.admin if method == "POST" else {}
            response = client.request(method, url, headers=headers)
            assert response.status_code == 404, (raw, response.text)
            assert response.json()["detail"] in ("no model version by that name", "Not Found")


def test_only_the_public_api_is_public_through_nginx(healthy_after: Abuse) -> None:
    nginx = healthy_after.nginx
    for path in ("/api/metrics", "/api/docs", "/api/readyz", "/api/openapi.json", "/api/v1/../metrics"):
        status, _, body = nginx.get(path)
        assert status == 404 and body == b'{"detail": "Not Found"}', path
    status, _, body = nginx.get("/api/v1/status")
    assert status == 200 and body == b'{"status":"ready"}'


def test_hostile_shapes_are_4xx_never_5xx(healthy_after: Abuse) -> None:
    deep = "[" * 5000 + "]" * 5000
    with healthy_after.gateway(healthy_after.alice) as client:
        for content, ctype in (
            (b'{"texts": ' + deep.encode() + b"}", "application/json"),
            (b"\xff\xfe not json", "application/json"),
            (b'{"texts": ["a"]}', "text/plain"),
            (b'{"texts": "' + b"\\ud800" * 1000 + b'"}', "application/json"),
        ):
            response = client.post("/v1/classify", content=content, headers={"Content-Type": ctype})
            assert 400 <= response.status_code < 500 and isinstance(response.json()["detail"], str), response.text
        odd_method = client.request("PROPFIND", "/v1/classify")  # (uvicorn itself answers 400 to unknown verbs)
        assert odd_method.status_code == 405 and odd_method.json()["detail"] == "Method Not Allowed"
        job_id = client.get("/v1/jobs/" + "%00" * 10)
        assert job_id.status_code == 404
        assert job_id.json()["detail"] == "no job with that id (job ids are 32 hex digits)"
        metrics = client.get("/metrics").text
    assert 'method="PROPFIND"' not in metrics and 'method="other"' in metrics
    assert "%00" not in metrics and "\\x00" not in metrics


def test_a_stolen_looking_key_is_refused_without_a_timing_oracle(healthy_after: Abuse) -> None:
    """Wrong keys are 403 with one detail whatever they share with a real key (digests compared in full)."""
    real = healthy_after.alice["Authorization"].removeprefix("Bearer ")
    with healthy_after.gateway() as client:
        for guess in (real[:-1] + "x", real[:5], "x" * len(real), real + "x"):
            response = client.post("/v1/classify", json={"texts": ["a"]}, headers={"Authorization": f"Bearer {guess}"})
            assert response.status_code == 403 and response.json()["detail"] == "this API key is not valid"


# -- rate limits (last: they empty 127.0.0.1's bucket) ----------------------------------------------------


def _allowed_at_most(elapsed: float) -> int:
    return BURST + int(elapsed * PER_MINUTE / 60) + 5


def test_rotating_x_forwarded_for_through_nginx_is_still_one_client(healthy_after: Abuse) -> None:
    abuse = healthy_after
    nginx = abuse.nginx
    started = time.monotonic()
    codes = []
    for i in range(150):
        status, headers, body = nginx.request(
            "POST",
            "/api/v1/classify",
            body=b'{"texts": ["Stocks rally"]}',
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"},
        )
        codes.append(status)
        if status == 429:
            limited = (headers, body)
    elapsed = time.monotonic() - started
    assert codes.count(200) <= _allowed_at_most(elapsed), (codes.count(200), elapsed)
    assert codes.count(429) >= 150 - _allowed_at_most(elapsed)
    headers, body = limited
    assert 1 <= int(headers["retry-after"]) <= 60
    assert body.startswith(b'{"detail": "rate limit of 600 requests per minute exceeded; retry in ')
    # a keyed client has its own bucket meanwhile
    with abuse.gateway(abuse.alice) as alice:
        assert alice.post("/v1/classify", json={"texts": ["Stocks rally"]}).status_code == 200
    time.sleep(BURST * 60 / PER_MINUTE)  # refill before the next test


def test_bogus_keys_and_404s_mint_no_buckets(healthy_after: Abuse) -> None:
    with healthy_after.gateway() as client:
        started = time.monotonic()
        codes = [
            client.get(
                f"/v1/nothing-{i}" if i % 2 else "/v1/models", headers={"Authorization": f"Bearer x{i}"}
            ).status_code
            for i in range(150)
        ]
        elapsed = time.monotonic() - started
    assert codes.count(429) >= 150 - _allowed_at_most(elapsed)
    assert set(codes) <= {403, 404, 429}
    time.sleep(BURST * 60 / PER_MINUTE)


def test_peak_gateway_rss_is_far_below_the_chart_limit(abuse: Abuse) -> None:
    peak = abuse.peak_rss_mib()
    print(f"\ngateway peak RSS (VmHWM) over the abuse suite: {peak:.0f} MiB (chart limit 512 MiB)")
    assert peak < 256, peak
