"""Identity and ownership in-process on a real Redis: named keys, own jobs only, 404 for others', views."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from tests_gateway_helpers import ADMIN

Make = Callable[..., TestClient]
ALICE = {"Authorization": "Bearer alice-secret"}
BOB = {"Authorization": "Bearer bob-secret"}
FILES = {"file": ("news.txt", b"Stocks rally\nFederer wins\n")}


def _client(make_client: Make, **overrides: object) -> TestClient:
    # bob's key is given as its SHA-256 digest: the plain key need not be in the environment
    import hashlib

    bob = "sha256:" + hashlib.sha256(b"bob-secret").hexdigest()
    return make_client(client_keys=f"alice=alice-secret,bob={bob}", anonymous_access=True, **overrides)


def test_jobs_are_seen_only_by_their_owner_and_admins(make_client: Make) -> None:
    client = _client(make_client)
    job = client.post("/v1/batch-jobs", files=FILES, headers=ALICE).json()
    assert job["owner"] == "alice"
    job_id = job["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result"):
        for who in (BOB, {}):
            other = client.get(path, headers=who)
            assert other.status_code == 404, (path, who)
            assert other.json()["detail"] == f"no job with id {job_id!r} (unknown, or expired)"
    assert client.delete(f"/v1/jobs/{job_id}", headers=BOB).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}", headers=ALICE).json()["state"] == "queued"
    assert [j["id"] for j in client.get("/v1/jobs", headers=ALICE).json()["jobs"]] == [job_id]
    assert client.get("/v1/jobs", headers=BOB).json()["jobs"] == []
    assert [j["id"] for j in client.get("/v1/jobs", headers=ADMIN).json()["jobs"]] == [job_id]
    assert client.delete(f"/v1/jobs/{job_id}", headers=ADMIN).json()["state"] == "cancelled"


def test_anonymous_callers_use_jobs_by_id_but_never_list(make_client: Make) -> None:
    client = _client(make_client)
    job = client.post("/v1/batch-jobs", files=FILES).json()
    assert job["owner"] is None
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 200
    assert client.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 404
    listing = client.get("/v1/jobs")
    assert listing.status_code == 401 and listing.json()["detail"].startswith("listing jobs needs an API key")


def test_anonymous_access_is_off_once_client_keys_exist(make_client: Make) -> None:
    client = make_client(client_keys="alice=alice-secret")
    closed = client.post("/v1/batch-jobs", files=FILES)
    assert closed.status_code == 401 and "needs an API key" in closed.json()["detail"]
    bogus = client.post("/v1/batch-jobs", files=FILES, headers={"Authorization": "Bearer guess"})
    assert bogus.status_code == 403 and bogus.json()["detail"] == "this API key is not valid"
    assert client.post("/v1/batch-jobs", files=FILES, headers=ALICE).status_code == 202


def test_idempotency_keys_are_per_caller(make_client: Make) -> None:
    client = _client(make_client)
    idem = {"Idempotency-Key": "same"}
    first = client.post("/v1/batch-jobs", files=FILES, headers=ALICE | idem).json()
    again = client.post("/v1/batch-jobs", files=FILES, headers=ALICE | idem).json()
    other = client.post("/v1/batch-jobs", files=FILES, headers=BOB | idem).json()
    assert first["id"] == again["id"] != other["id"]
    assert other["owner"] == "bob"


def test_non_admin_views_carry_no_internal_detail(make_client: Make) -> None:
    client = _client(
        make_client, registry_uri="s3://no-such-bucket-agnews/secret-prefix", s3_endpoint_url="http://127.0.0.1:9"
    )
    failed = client.post("/v1/batch-jobs", files=FILES, headers=ALICE)
    assert failed.status_code == 503 and failed.json()["detail"] == "could not store the upload; try again later"
    [job] = client.get("/v1/jobs", headers=ALICE).json()["jobs"]
    assert job["state"] == "failed" and job["error"] == "the job failed"
    assert set(job["params"]) == {"filename", "format", "n_articles", "size_bytes"}
    [as_admin] = client.get("/v1/jobs", headers=ADMIN).json()["jobs"]
    assert "no-such-bucket-agnews" in as_admin["error"]


def test_training_presets_data_and_knobs_are_checked_at_the_door(make_client: Make) -> None:
    client = make_client(training_data_prefixes="s3://agnews-data/")
    for body, detail in (
        ({"preset": "nonexistent"}, "unknown preset 'nonexistent': choose one of tfidf, minilm, minilm-blend, sbert"),
        ({"preset": "/etc/passwd"}, "unknown preset '/etc/passwd'"),
        ({"preset": "tfidf", "data": "/etc"}, "'data' must start with one of s3://agnews-data/"),
        ({"preset": "tfidf", "data": "s3://agnews-data/../x"}, "hold no '..'"),
        ({"preset": "tfidf", "max_steps": 10**9}, "max_steps is at most 200000"),
    ):
        refused = client.post("/v1/training-jobs", json=body, headers=ADMIN)
        assert refused.status_code == 422, body
        assert detail in refused.json()["detail"], refused.json()
    assert (
        client.post(
            "/v1/training-jobs", json={"preset": "tfidf", "data": "s3://agnews-data/a.zip"}, headers=ADMIN
        ).status_code
        == 202
    )
    closed = make_client()
    refused = closed.post("/v1/training-jobs", json={"preset": "tfidf", "data": "/tmp/x"}, headers=ADMIN)
    assert refused.status_code == 422 and "GATEWAY_TRAINING_DATA_PREFIXES" in refused.json()["detail"]


def test_odd_version_names_are_404(make_client: Make) -> None:
    client = make_client()
    for version in ("%2e%2e", "%2e", "%00", "a%00b", "..%2f..", "x" * 300):
        response = client.get(f"/v1/models/{version}/confusion-matrix.png")
        assert response.status_code == 404, version
        assert response.json()["detail"] in ("no model version by that name", "Not Found")
