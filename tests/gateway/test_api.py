"""Gateway API in-process on a real Redis: auth, validation, limits, idempotency, 404, 429, 503."""

from __future__ import annotations

from collections.abc import Callable

from agnews_gateway.errors import validation_sentence
from fastapi.testclient import TestClient
from tests_gateway_helpers import ADMIN

Make = Callable[..., TestClient]


def test_admin_routes_need_the_admin_key(make_client: Make) -> None:
    client = make_client()
    for method, path, body in (
        ("POST", "/v1/training-jobs", {"preset": "tfidf"}),
        ("POST", "/v1/models/v1/promote", None),
        ("POST", "/v1/models/rollback", None),
    ):
        missing = client.request(method, path, json=body)
        assert missing.status_code == 401, path
        assert "Authorization: Bearer" in missing.json()["detail"]
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403 and wrong.json()["detail"] == "this API key is not an admin key"


def test_classify_keys_when_set(make_client: Make) -> None:
    client = make_client(client_keys="user-key")
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 401
    assert (
        client.post("/v1/classify", json={"texts": ["x"]}, headers={"Authorization": "Bearer bad"}).status_code == 403
    )
    # a right key passes auth and reaches the (absent) inference service
    ok = client.post("/v1/classify", json={"texts": ["x"]}, headers={"Authorization": "Bearer user-key"})
    assert ok.status_code == 503


def test_validation_errors_are_one_sentence(make_client: Make) -> None:
    client = make_client()
    both = client.post("/v1/classify", json={"texts": ["a"], "articles": []})
    assert both.status_code == 422
    assert both.json()["detail"] == "invalid request: send exactly one of 'texts' or 'articles'"
    wrong_type = client.post("/v1/classify", json={"texts": [1]})
    assert wrong_type.status_code == 422 and wrong_type.json()["detail"].startswith("invalid request: texts.0: ")
    bad_knob = client.post("/v1/training-jobs", json={"preset": "tfidf", "epochs": -1}, headers=ADMIN)
    assert bad_knob.status_code == 422
    assert bad_knob.json()["detail"] == "invalid request: epochs: Input should be greater than 0"
    assert validation_sentence([]) == "invalid request"


def test_bad_and_big_uploads(make_client: Make) -> None:
    client = make_client(max_batch_articles=5, max_upload_bytes=1000)
    bad = client.post("/v1/batch-jobs", files={"file": ("a.csv", b"foo,bar\n1,2\n")})
    assert bad.status_code == 422 and "'text' column" in bad.json()["detail"]
    many = client.post("/v1/batch-jobs", files={"file": ("a.txt", b"a\nb\nc\nd\ne\nf\n")})
    assert many.status_code == 413 and "more than 5 articles" in many.json()["detail"]
    big = client.post("/v1/batch-jobs", files={"file": ("a.txt", b"x" * 2000)})
    assert big.status_code == 413 and "larger than 1000 bytes" in big.json()["detail"]
    missing = client.post("/v1/batch-jobs", data={"x": "1"})
    assert missing.status_code == 422 and "file: Field required" in missing.json()["detail"]


def test_big_classify_body_is_413(make_client: Make) -> None:
    client = make_client(max_body_bytes=1000)
    response = client.post("/v1/classify", json={"texts": ["x" * 2000]})
    assert response.status_code == 413 and "larger than 1000 bytes" in response.json()["detail"]


def test_jobs_404_idempotency_and_cancel(make_client: Make) -> None:
    client = make_client(client_keys="alice=alice-key", anonymous_access=True)
    client.headers["Authorization"] = "Bearer alice-key"
    missing = client.get("/v1/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json()["detail"] == "no job with that id (job ids are 32 hex digits)"
    assert client.delete("/v1/jobs/does-not-exist").status_code == 404
    unknown = client.get("/v1/jobs/" + "0" * 32)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no job with id {'0' * 32!r} (unknown, or expired)"
    files = {"file": ("a.txt", b"one\ntwo\n")}
    first = client.post("/v1/batch-jobs", files=files, headers={"Idempotency-Key": "k1"})
    again = client.post("/v1/batch-jobs", files=files, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and first.json()["state"] == "queued"
    assert first.json()["params"]["n_articles"] == 2
    assert len(client.get("/v1/jobs").json()["jobs"]) == 1
    job_id = first.json()["id"]
    not_ready = client.get(f"/v1/jobs/{job_id}/result")
    assert not_ready.status_code == 409 and "queued" in not_ready.json()["detail"]
    cancelled = client.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 409


def test_training_job_needs_admin_to_cancel(make_client: Make) -> None:
    client = make_client()
    job = client.post("/v1/training-jobs", json={"preset": "tfidf"}, headers=ADMIN).json()
    assert job["type"] == "training" and job["params"] == {"preset": "tfidf"}
    # not the caller's job: 404 exactly like a missing one
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/v1/jobs/{job['id']}", headers=ADMIN).json()["state"] == "cancelled"


def test_rate_limit_429_with_retry_after(make_client: Make) -> None:
    client = make_client(rate_limit_per_minute=3, rate_limit_burst=3, client_keys="bob=bob-key", anonymous_access=True)
    codes = [client.get("/v1/models").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/v1/models")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "rate limit of 3 requests per minute" in limited.json()["detail"]
    # a bogus key counts as its address (no fresh bucket); 404s count too
    assert client.get("/v1/models", headers={"Authorization": "Bearer someone"}).status_code == 429
    assert client.get("/v1/nothing-here").status_code == 429
    # a configured key has its own budget; health probes are never limited
    assert client.get("/v1/models", headers={"Authorization": "Bearer bob-key"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_inference_down_is_503_naming_it(make_client: Make) -> None:
    client = make_client()
    response = client.post("/v1/classify", json={"texts": ["stocks rally"]})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("inference service unavailable at http://127.0.0.1:")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "inference unreachable" in ready.json()["detail"]
    assert "Redis" not in ready.json()["detail"]


def test_metrics_and_openapi(make_client: Make) -> None:
    client = make_client()
    client.get("/v1/jobs/x")
    text = client.get("/metrics").text
    assert 'agnews_http_requests_total{method="GET",route="/v1/jobs/{job_id}",service="gateway",status="404"}' in text
    assert 'agnews_queue_backlog{queue="batch"}' in text
    spec = client.get("/openapi.json").json()
    assert "/v1/batch-jobs" in spec["paths"] and "/v1/models/{version}/promote" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_chunked_bodies_are_counted_as_they_stream(make_client: Make) -> None:
    client = make_client(max_body_bytes=4096)

    def chunks():  # no Content-Length: chunked transfer encoding
        yield b'{"texts": ["'
        for _ in range(1000):
            yield b"y" * 1000
        yield b'"]}'

    response = client.post("/v1/classify", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body larger than 4096 bytes (the limit, GATEWAY_MAX_BODY_BYTES)"


def test_texts_empty_once_cleaned_are_422(make_client: Make) -> None:
    client = make_client()
    for texts in ([""], ["   "], ["ok", "<br/>"], ["\u0000\u0007"]):
        response = client.post("/v1/classify", json={"texts": texts})
        assert response.status_code == 422, texts
        assert "empty once cleaned" in response.json()["detail"]
    articles = client.post("/v1/classify", json={"articles": [{"title": " ", "description": ""}]})
    assert articles.status_code == 422 and articles.json()["detail"].startswith("invalid request: articles.0: empty")


def test_classify_bodies_are_parsed_by_hand_with_clear_4xx(make_client: Make) -> None:
    """The hot route reads its body itself (agnews_core.http_edge.json_body): same rules, clear details."""
    client = make_client()
    plain = client.post("/v1/classify", content=b'{"texts": ["a"]}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert plain.json()["detail"] == "send the body as application/json, not 'text/plain'"
    for broken in (b"", b"{", b"\xff\xfe", b"[" * 100_000):
        response = client.post("/v1/classify", content=broken, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, broken[:10]
        assert response.json()["detail"].startswith("invalid request: the body is not valid JSON ("), response.text
    wrong = client.post("/v1/classify", json={"texts": "not a list"})
    assert wrong.status_code == 422 and wrong.json()["detail"] == "invalid request: texts: Input should be a valid list"
    both = client.post("/v1/classify", json={"texts": ["a"], "articles": []})
    assert both.json()["detail"] == "invalid request: send exactly one of 'texts' or 'articles'"
    # the schema still documents the body (schemathesis fuzzes from it), nested models inlined
    body = client.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True and {"texts", "articles"} <= set(schema["properties"])
    assert "$ref" not in str(schema) and "description" in str(schema["properties"]["articles"])


def test_public_status_names_no_address(make_client: Make) -> None:
    client = make_client()
    status = client.get("/v1/status")
    assert status.status_code == 503
    assert status.json()["detail"] == "not ready: the inference service is unavailable"
    assert "/readyz" not in client.get("/openapi.json").json()["paths"]


def test_classify_is_served_without_dependency_solving_and_answers_the_same(make_client: Make) -> None:
    """POST /v1/classify runs its handler bare (agnews_core.http_edge.serve_bare): the declared route's
    dependencies, overridden here to fail, never run, while keys, bodies, errors and metrics behave as before."""
    from agnews_gateway.deps import get_caller, get_inference

    def never() -> None:
        raise AssertionError("the declared classify route ran")

    client = make_client(client_keys="reader=reader-secret-key-0123456789", anonymous_access=False)
    client.app.dependency_overrides.update({get_caller: never, get_inference: never})  # type: ignore[attr-defined]
    anonymous = client.post("/v1/classify", json={"texts": ["a"]})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["detail"] == "this route needs an API key: send 'Authorization: Bearer <key>'"
    wrong_key = client.post("/v1/classify", json={"texts": ["a"]}, headers={"Authorization": "Bearer nope"})
    assert wrong_key.status_code == 403 and wrong_key.json()["detail"] == "this API key is not valid"
    reader = {"Authorization": "Bearer reader-secret-key-0123456789"}
    assert client.post("/v1/classify", json={"texts": 1}, headers=reader).status_code == 422
    down = client.post("/v1/classify", json={"texts": ["a"]}, headers=reader)  # inference: a closed port
    assert down.status_code == 503 and down.json()["detail"]
    other_method = client.get("/v1/classify")
    assert other_method.status_code == 405 and other_method.json()["detail"] == "Method Not Allowed"
    metrics = client.get("/metrics").text
    assert 'route="/v1/classify",service="gateway",status="503"' in metrics.replace('method="POST",', "")
