"""agnews-deploy against a real kube-apiserver (v1.20, no kubelet or controllers).

The chart's objects that v1.20 serves are applied with kubectl; the tests then play the controllers'
part by patching status subresources, and check what the API holds: patches, created Jobs, watches.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agnews_deploy import champion, cli, jobs, rollout
from deploy_helpers import helm_template_cmd, run
from kubernetes import client, config, watch
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

pytestmark = pytest.mark.apiserver

NS = "agnews"
# API groups a v1.20 server has; the chart's batch/v1 CronJob, policy/v1 PDB and autoscaling/v2 HPA are
# validated offline against current Kubernetes instead (test_deploy_chart.py)
SERVED_BY_1_20 = {("v1", k) for k in ("ConfigMap", "Secret", "Service", "ServiceAccount", "PersistentVolumeClaim")} | {
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"),
}


@pytest.fixture(scope="module")
def cluster(kube_apiserver: Any, tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The release applied (EKS values: GPU node pool; fixed inference replicas) into namespace agnews."""
    kc = str(kube_apiserver.kubeconfig)
    rendered = run(
        helm_template_cmd(
            tools["helm"],
            "values-eks.yaml",
            set_values={"inference.autoscaling.enabled": "false", "inference.replicaCount": "2"},
        )
    ).stdout
    objs = [d for d in yaml.safe_load_all(rendered) if d and (d["apiVersion"], d["kind"]) in SERVED_BY_1_20]
    path = tmp_path_factory.mktemp("release") / "release.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    run([tools["kubectl"], "--kubeconfig", kc, "create", "namespace", NS])
    out = run([tools["kubectl"], "--kubeconfig", kc, "-n", NS, "apply", "-f", str(path)])
    assert "deployment.apps/agnews-inference created" in out.stdout
    assert "deployment.apps/agnews-trainer created" in out.stdout
    yield kube_apiserver


@pytest.fixture(scope="module")
def api(cluster: Any) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


def agnews_deploy(cluster: Any, *args: str) -> int:
    return cli.main(["--kubeconfig", str(cluster.kubeconfig), "-n", NS, *args])


def in_thread(fn: Callable[[], None]) -> threading.Thread:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # surfaced by join_ok
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.errors = errors  # type: ignore[attr-defined]
    t.start()
    return t


def join_ok(t: threading.Thread) -> None:
    t.join(timeout=30)
    assert not t.is_alive(), "simulated controller still running"
    assert not t.errors, t.errors  # type: ignore[attr-defined]


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def set_deploy_status(
    apps: client.AppsV1Api,
    name: str,
    gen: int,
    replicas: int,
    updated: int,
    available: int,
    conditions: list[dict] | None = None,
) -> None:
    status: dict[str, Any] = {
        "observedGeneration": gen,
        "replicas": replicas,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "readyReplicas": available,
    }
    if conditions:
        status["conditions"] = conditions
    apps.patch_namespaced_deployment_status(name, NS, {"status": status})


def test_restart_patches_template_and_watches_rollout(
    cluster: Any, api: client.ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = client.AppsV1Api(api)
    before = apps.read_namespaced_deployment("agnews-inference", NS)
    gen0 = before.metadata.generation
    steps: list[str] = []

    def controller() -> None:
        # wait for the restart patch (a new generation), then roll 2 pods the way the controller reports it
        dep = wait_for(
            lambda: (d := apps.read_namespaced_deployment("agnews-inference", NS)).metadata.generation > gen0 and d
        )
        gen = dep.metadata.generation
        for replicas, updated, available in ((3, 1, 2), (3, 2, 2), (2, 2, 1), (2, 2, 2)):
            time.sleep(0.3)
            steps.append(f"{replicas}/{updated}/{available}")
            set_deploy_status(apps, "agnews-inference", gen, replicas, updated, available)

    t = in_thread(controller)
    started = time.monotonic()
    assert agnews_deploy(cluster, "restart", "--timeout", "30") == 0
    join_ok(t)
    assert time.monotonic() - started >= 1.0  # it waited for the last step, not just the patch
    out = capsys.readouterr().out
    assert "deployment.apps/agnews-inference restarted" in out
    assert "1 out of 2 new replicas have been updated" in out
    assert "1 old replicas are pending termination" in out
    assert "1 of 2 updated replicas are available" in out
    assert out.rstrip().endswith('deployment "agnews-inference" successfully rolled out')
    after = apps.read_namespaced_deployment("agnews-inference", NS)
    stamp = after.spec.template.metadata.annotations[rollout.RESTARTED_AT]
    assert stamp.endswith("Z") and "T" in stamp
    # only the annotation changed in the pod template (the rest of the chart's spec is intact)
    assert after.spec.template.spec.containers[0].image == before.spec.template.spec.containers[0].image
    assert (
        after.spec.template.metadata.annotations["checksum/config"]
        == before.spec.template.metadata.annotations["checksum/config"]
    )


def test_status_times_out_without_a_controller(
    cluster: Any, api: client.ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = client.AppsV1Api(api)
    rollout.restart(apps, NS, "agnews-gateway")  # new generation nobody observes
    started = time.monotonic()
    assert agnews_deploy(cluster, "status", "--deployment", "agnews-gateway", "--timeout", "2") == 2
    assert 1.5 <= time.monotonic() - started < 15
    out = capsys.readouterr().out
    assert "Waiting for deployment spec update to be observed" in out
    assert "timed out after 2s" in out


def test_status_fails_on_progress_deadline(
    cluster: Any, api: client.ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = client.AppsV1Api(api)
    dep = apps.read_namespaced_deployment("agnews-frontend", NS)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    set_deploy_status(
        apps,
        "agnews-frontend",
        dep.metadata.generation,
        3,
        1,
        2,
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet has timed out progressing.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }
        ],
    )
    assert agnews_deploy(cluster, "status", "--deployment", "agnews-frontend", "--timeout", "10") == 1
    assert 'deployment "agnews-frontend" exceeded its progress deadline' in capsys.readouterr().out


def _watch_new_job(batch: client.BatchV1Api, found: list[client.V1Job]) -> None:
    w = watch.Watch()
    for event in w.stream(
        batch.list_namespaced_job, NS, label_selector="app.kubernetes.io/component=training-job", timeout_seconds=20
    ):
        if event["type"] == "ADDED":
            found.append(event["object"])
            w.stop()


def _finish_job(batch: client.BatchV1Api, name: str, kind: str, reason: str = "", message: str = "") -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    batch.patch_namespaced_job_status(name, NS, {"status": {"active": 1, "startTime": now}})
    time.sleep(0.3)
    cond = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        cond |= {"reason": reason, "message": message}
    status: dict[str, Any] = {"active": 0, "conditions": [cond]}
    status["succeeded" if kind == "Complete" else "failed"] = 1
    if kind == "Complete":
        status["completionTime"] = now
    batch.patch_namespaced_job_status(name, NS, {"status": status})


def test_train_launches_gpu_job_and_follows_it(
    cluster: Any, api: client.ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = client.BatchV1Api(api)
    found: list[client.V1Job] = []

    def job_controller() -> None:
        _watch_new_job(batch, found)
        assert found, "no Job was created"
        _finish_job(batch, found[0].metadata.name, "Complete")

    t = in_thread(job_controller)
    time.sleep(0.3)  # the watch is open before the Job is created
    assert (
        agnews_deploy(
            cluster, "train", "--preset", "minilm", "--gpus", "1", "--timeout", "30", "--", "--time-budget-min", "30"
        )
        == 0
    )
    join_ok(t)
    out = capsys.readouterr().out
    name = found[0].metadata.name
    assert f"job.batch/{name} created (preset=minilm, gpus=1)" in out
    assert "active=1 succeeded=0 failed=0" in out
    assert out.rstrip().endswith(f"job/{name} succeeded")

    job = batch.read_namespaced_job(name, NS)
    spec = job.spec.template.spec
    c = spec.containers[0]
    assert c.resources.limits["nvidia.com/gpu"] == "1" and c.resources.requests["nvidia.com/gpu"] == "1"
    assert c.resources.limits["memory"] == "15Gi"  # the rest of the trainer's resources are kept
    assert spec.node_selector == {"agnews.io/pool": "gpu", "nvidia.com/gpu.present": "true"}
    assert any(tol.key == "nvidia.com/gpu" and tol.effect == "NoSchedule" for tol in spec.tolerations)
    assert spec.restart_policy == "Never" and job.spec.backoff_limit == 0
    assert c.image.endswith("/agnews-trainer:0.1.0")
    assert c.args[:2] == ["sh", "-c"]
    assert (
        "agnews-train run" in c.args[2]
        and "--preset minilm" in c.args[2]
        and c.args[2].endswith("--time-budget-min 30")
    )
    assert c.liveness_probe is None and not c.ports
    env = {e.name for e in c.env}
    assert {"TRAINER_REDIS_URL", "TRAINER_REGISTRY_URI", "REDIS_PASSWORD"} <= env
    assert c.security_context.read_only_root_filesystem is True
    assert job.metadata.labels["app.kubernetes.io/instance"] == "agnews"
    assert job.metadata.labels["agnews.io/preset"] == "minilm"


def test_train_reports_failure(cluster: Any, api: client.ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    batch = client.BatchV1Api(api)
    found: list[client.V1Job] = []

    def job_controller() -> None:
        _watch_new_job(batch, found)
        _finish_job(
            batch,
            found[0].metadata.name,
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )

    # earlier Jobs exist: wait for one newer than them
    for j in batch.list_namespaced_job(NS).items:
        batch.delete_namespaced_job(j.metadata.name, NS, propagation_policy="Background")
    wait_for(lambda: not batch.list_namespaced_job(NS).items)
    time.sleep(1.1)  # Job names carry a seconds timestamp
    t = in_thread(job_controller)
    time.sleep(0.3)
    assert agnews_deploy(cluster, "train", "--preset", "tfidf", "--gpus", "0", "--timeout", "30") == 1
    join_ok(t)
    out = capsys.readouterr().out
    assert "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)" in out
    c = batch.read_namespaced_job(found[0].metadata.name, NS).spec.template.spec.containers[0]
    assert "nvidia.com/gpu" not in (c.resources.limits or {})


def test_train_without_a_trainer_deployment_is_an_api_error(cluster: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert agnews_deploy(cluster, "--release", "other", "train", "--no-follow") == 1
    assert "error: Kubernetes API 404" in capsys.readouterr().out


class _Metrics(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def _metrics_body(version: str | None) -> bytes:
    """What an inference pod exposes, made by prometheus_client like the service does."""
    reg = CollectorRegistry()
    info = Gauge("agnews_model_info", "model served", ["version", "kind"], registry=reg)
    Gauge("agnews_inference_ready", "ready", registry=reg).set(1 if version else 0)
    Counter("agnews_predictions_total", "predictions", ["label"], registry=reg).labels("Sports").inc(3)
    if version:
        info.labels("v20260101T000000-tfidf-000000", "tfidf").set(0)  # the previous champion, swapped out
        info.labels(version, "transformers").set(1)
    return generate_latest(reg)


@pytest.fixture
def metrics_servers() -> Iterator[Callable[[str | None], int]]:
    servers: list[http.server.HTTPServer] = []

    def start(version: str | None) -> int:
        handler = type("H", (_Metrics,), {"body": _metrics_body(version)})
        srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return int(srv.server_address[1])

    yield start
    for srv in servers:
        srv.shutdown()


def _make_inference_pod(core: client.CoreV1Api, apps: client.AppsV1Api, name: str, running: bool) -> None:
    tmpl = apps.read_namespaced_deployment("agnews-inference", NS).spec.template
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels=tmpl.metadata.labels), spec=tmpl.spec)
    core.create_namespaced_pod(NS, pod)
    if running:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        core.patch_namespaced_pod_status(
            name,
            NS,
            {
                "status": {
                    "phase": "Running",
                    "podIP": "127.0.0.1",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
                }
            },
        )


def test_champion_per_pod(
    cluster: Any,
    api: client.ApiClient,
    metrics_servers: Callable[[str | None], int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    for name, running in (("agnews-inference-a", True), ("agnews-inference-b", True), ("agnews-inference-c", False)):
        _make_inference_pod(core, apps, name, running)
    selector = "app.kubernetes.io/instance=agnews,app.kubernetes.io/component=inference"
    # the default path: the API server's pod proxy; it refuses loopback pod IPs, and the report says so
    report = champion.champions(core, NS, selector)
    assert [p.pod for p in report] == ["agnews-inference-a", "agnews-inference-b", "agnews-inference-c"]
    assert all(p.error and p.error.startswith("metrics unreachable") for p in report[:2]), report
    assert report[2].error == "pod is Pending" and report[2].phase == "Pending" and not report[2].ready

    new = "v20261126T005100-transformers-abc123"
    ports = {"agnews-inference-a": metrics_servers(new), "agnews-inference-b": metrics_servers(new)}

    def fetch(pod: Any) -> str:
        import httpx

        return httpx.get(f"http://127.0.0.1:{ports[pod.metadata.name]}/metrics", timeout=5).text

    report = champion.champions(core, NS, selector, fetch)
    assert [(p.pod, p.version, p.kind, p.ready) for p in report[:2]] == [
        ("agnews-inference-a", new, "transformers", True),
        ("agnews-inference-b", new, "transformers", True),
    ]
    # the Pending pod keeps the champion from being consistent
    assert champion.consistent_version(report) is None
    core.delete_namespaced_pod("agnews-inference-c", NS, grace_period_seconds=0, propagation_policy="Background")
    wait_for(lambda: len(core.list_namespaced_pod(NS, label_selector=selector).items) == 2)
    assert champion.consistent_version(champion.champions(core, NS, selector, fetch)) == new

    # through the CLI: pods that serve different versions exit 1
    ports["agnews-inference-b"] = metrics_servers(None)
    monkeypatch.setattr(champion, "proxy_fetch", lambda _core: fetch)
    assert agnews_deploy(cluster, "champion") == 1
    out = capsys.readouterr().out
    assert "agnews-inference-a" in out and f"{new} (transformers)" in out
    assert "- (no model loaded)" in out and "champion: pods disagree or none answered" in out
    ports["agnews-inference-b"] = metrics_servers(new)
    assert agnews_deploy(cluster, "champion", "--json") == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["champion"] == new and len(doc["pods"]) == 2


def test_job_manifest_is_accepted_by_current_kubernetes(
    tools: dict[str, str], api: client.ApiClient, tmp_path: Path
) -> None:
    """The Job agnews-deploy builds also validates against the schemas of current Kubernetes."""
    tmpl = client.AppsV1Api(api).read_namespaced_deployment("agnews-trainer", NS).spec.template
    job = jobs.build_training_job(tmpl, jobs.TrainingRequest(release="agnews", preset="minilm"), "agnews-train-x")
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(api.sanitize_for_serialization(job)))
    run([tools["kubernetes-validate"], "--strict", "-k", "1.34.0", str(path)])
