"""Smoke suite of the images: the whole stack runs FROM the images built from the repo's Dockerfiles.

One stack per session (conftest.py: compose.yaml on the engine's user network, service names, the chart's
settings, a tfidf champion on the registry volume). Tests run in file order; the training job comes last as
it replaces the champion. Measured figures (sizes, build seconds, seconds to ready) go to
build/images/smoke.json and are printed by `make images-test`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx
import pytest
from agnews_core.labels import LABEL_NAMES
from images_stack import ImageStack

# the session fixture builds the images first: a cold build takes many minutes here, a cached one seconds
pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(3600)]

# the goals of issue 13, in MB (10^6 bytes, as the engines print them)
SIZE_GOALS_MB = {"gateway": 200, "frontend": 200, "inference": 1200, "trainer-cpu": 2000}
SERVICES = {"redis", "inference", "gateway", "batch-worker", "reaper", "trainer", "frontend"}
LABELS = set(LABEL_NAMES)


def api(stack: ImageStack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request through nginx (/api/ -> the gateway); waits out the chart's rate limit (120/min) if hit."""
    for _ in range(3):
        response = httpx.request(method, f"{stack.frontend_url}/api{path}", timeout=30, **kwargs)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "5")))
    return response


def wait_job(stack: ImageStack, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        # the admin reads every job (an anonymous caller could not read the admin's training job)
        job = api(stack, "GET", f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {stack.admin_key}"}).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(1.0)
    raise TimeoutError(f"job {job_id} still {job.get('state')} after {timeout:.0f}s: {job}")


def classify(stack: ImageStack, texts: list[str]) -> dict[str, Any]:
    response = api(stack, "POST", "/v1/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert [p["label"] in LABELS for p in body["predictions"]] == [True] * len(texts), body
    return body


def test_image_sizes_within_goals(image_stack: ImageStack) -> None:
    sizes = {name: image_stack.sizes[image_stack.image(name)] // 1_000_000 for name in SIZE_GOALS_MB}
    print("\nimage sizes (MB):", json.dumps(sizes), "ready after compose up (s):", image_stack.ready_s)
    over = {name: mb for name, mb in sizes.items() if mb >= SIZE_GOALS_MB[name]}
    assert not over, f"over the size goals {SIZE_GOALS_MB}: {over}"


def test_every_service_runs_from_its_image(image_stack: ImageStack) -> None:
    running = image_stack.containers()
    assert set(running) == SERVICES, running
    for service, name in running.items():
        image = image_stack.run("inspect", "--format", "{{.ImageName}}", name).stdout.strip()
        expected = {"batch-worker": "gateway", "reaper": "gateway", "trainer": "trainer-cpu"}.get(service, service)
        assert image == image_stack.image(expected), (service, image)


def test_no_container_runs_as_root(image_stack: ImageStack) -> None:
    for name in ("gateway", "inference", "frontend", "trainer-cpu", "redis"):
        user = image_stack.run("image", "inspect", "--format", "{{.Config.User}}", image_stack.image(name)).stdout
        assert user.strip().split(":")[0] not in ("", "0", "root"), (name, user)
    for service, name in image_stack.containers().items():
        # the real uid of each container's main process, not just what the image asks for
        status = image_stack.run("exec", name, "cat", "/proc/1/status").stdout
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert uids == ["10001"] * 4, (service, uids)


def test_health_checks_of_every_container(image_stack: ImageStack) -> None:
    """`podman healthcheck run` of each container: the image's own HEALTHCHECK (or compose's) passes."""
    pending = dict(image_stack.containers())
    deadline = time.monotonic() + 60  # the workers' metrics listeners open a moment after the page answers
    while pending and time.monotonic() < deadline:
        for service, name in list(pending.items()):
            out = image_stack.run("healthcheck", "run", name, check=False)
            if out.returncode == 0:
                del pending[service]
        time.sleep(1.0)
    assert not pending, f"unhealthy: {sorted(pending)}\n{image_stack.logs()}"


def test_gateway_image_has_no_torch(image_stack: ImageStack) -> None:
    probe = "import importlib.util as u; print([m for m in ('torch', 'transformers', 'onnxruntime') if u.find_spec(m)])"
    gateway = image_stack.run("run", "--rm", image_stack.image("gateway"), "python", "-c", probe).stdout
    assert gateway.strip() == "[]", gateway
    inference = image_stack.run("run", "--rm", image_stack.image("inference"), "python", "-c", probe).stdout
    assert inference.strip() == "['torch', 'transformers', 'onnxruntime']", inference  # the probe can see them


def test_classify_through_nginx(image_stack: ImageStack) -> None:
    page = httpx.get(f"{image_stack.frontend_url}/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    body = classify(image_stack, ["Federer wins his fifth Wimbledon title", "Oil prices climb as supply fears grow"])
    assert len(body["predictions"]) == 2 and "-tfidf-" in body["model_version"], body
    models = api(image_stack, "GET", "/v1/models").json()
    assert models["champion"] == body["model_version"]
    ready = httpx.get(f"{image_stack.gateway_url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_batch_job_end_to_end(image_stack: ImageStack) -> None:
    rows = [(f"a{i}", f"Team {i} wins the league final", "The coach praised the defence.") for i in range(200)]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "title", "description"])
    writer.writerows(rows)
    created = api(image_stack, "POST", "/v1/batch-jobs", files={"file": ("news.csv", buf.getvalue().encode())})
    assert created.status_code == 202, created.text
    job = wait_job(image_stack, created.json()["id"], timeout=120)
    assert job["state"] == "succeeded", (job, image_stack.logs())
    assert job["result"]["n"] == 200 and sum(job["result"]["counts"].values()) == 200
    result = api(image_stack, "GET", job["result"]["result_url"])
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(result.text)))
    assert [r["id"] for r in table] == [r[0] for r in rows] and {r["label"] for r in table} <= LABELS


def test_training_job_promotes_and_inference_swaps(image_stack: ImageStack) -> None:
    """tfidf on all rows of the data volume beats the 300-row champion; inference serves the new one."""
    old = classify(image_stack, ["Dow closes higher"])["model_version"]
    admin = {"Authorization": f"Bearer {image_stack.admin_key}"}
    created = api(image_stack, "POST", "/v1/training-jobs", json={"preset": "tfidf"}, headers=admin)
    assert created.status_code == 202, created.text
    job = wait_job(image_stack, created.json()["id"], timeout=300)
    assert job["state"] == "succeeded", (job, image_stack.logs())
    new = job["result"]["version"]
    assert job["result"]["promoted"] is True and new != old and job["result"]["kind"] == "tfidf", job
    deadline = time.monotonic() + 60  # the gateway asks inference to reload; its registry poll is the fallback
    seen = old
    while seen != new and time.monotonic() < deadline:
        time.sleep(1.0)
        seen = classify(image_stack, ["Dow closes higher"])["model_version"]
    assert seen == new, f"inference still serves {seen}, not {new}\n{image_stack.logs()}"
