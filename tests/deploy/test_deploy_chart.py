"""helm lint, helm template with the default/EKS/k3s values, offline schema validation, rendered objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from deploy_helpers import CHART, Render, find, helm_template_cmd, pod_spec, run
from stack import free_port

VALUES = {"default": (), "eks": ("values-eks.yaml",), "k3s": ("values-k3s.yaml",)}
# EKS standard support today; kubernetes-validate ships schemas up to 1.37
K8S_VERSIONS = ["1.31.0", "1.32.0", "1.33.0", "1.34.0"]
WORKLOADS = ("Deployment", "StatefulSet", "CronJob")


def workloads(objs: list[dict]) -> list[dict]:
    return [o for o in objs if o["kind"] in WORKLOADS]


def containers(obj: dict) -> list[dict]:
    return pod_spec(obj)["containers"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_helm_lint_strict(tools: dict[str, str]) -> None:
    for files in VALUES.values():
        cmd = [tools["helm"], "lint", "--strict", str(CHART)] + [a for f in files for a in ("-f", str(CHART / f))]
        out = run(cmd)
        assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("name", list(VALUES))
def test_kubernetes_validate_strict(tools: dict[str, str], tmp_path: Path, name: str) -> None:
    rendered = run(helm_template_cmd(tools["helm"], *VALUES[name], monitoring=True)).stdout
    path = tmp_path / f"{name}.yaml"
    path.write_text(rendered)
    for version in K8S_VERSIONS:
        out = run([tools["kubernetes-validate"], "--strict", "-k", version, str(path)], check=False)
        assert out.returncode == 0, f"{name} @ {version}:\n{out.stdout}\n{out.stderr}"
        passed = out.stdout.count(" passed for resource ") + out.stderr.count(" passed for resource ")
        # every built-in object was checked (only the CRD kinds have no schema)
        builtin = [d for d in yaml.safe_load_all(rendered) if d and "coreos.com" not in d["apiVersion"]]
        assert passed == len(builtin), f"{name} @ {version}: {passed} passed of {len(builtin)}"


def test_kubernetes_validate_catches_a_bad_object(tools: dict[str, str], tmp_path: Path) -> None:
    """The validator really is strict: an unknown field in a Deployment fails."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 1\n  replicaz: 2\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        "    spec: {containers: [{name: c, image: i}]}\n"
    )
    out = run([tools["kubernetes-validate"], "--strict", "-k", "1.31.0", str(bad)], check=False)
    assert out.returncode != 0


@pytest.mark.parametrize("name", list(VALUES))
def test_labels_and_names(render: Render, name: str) -> None:
    objs = render(*VALUES[name], monitoring=True)
    for o in objs:
        labels = o["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
            "app.kubernetes.io/part-of",
        ):
            assert key in labels, f"{o['kind']}/{o['metadata']['name']} lacks {key}"
        assert o["metadata"]["name"].startswith("agnews"), o["metadata"]["name"]
    for w in workloads(objs):
        selector = w["spec"].get("selector", {}).get("matchLabels")
        tmpl = w["spec"]["jobTemplate"]["spec"]["template"] if w["kind"] == "CronJob" else w["spec"]["template"]
        if selector:
            assert selector.items() <= tmpl["metadata"]["labels"].items()
            assert "app.kubernetes.io/version" not in selector  # selectors are immutable: no version in them


@pytest.mark.parametrize("name", list(VALUES))
def test_security_contexts(render: Render, name: str) -> None:
    for w in workloads(render(*VALUES[name])):
        spec = pod_spec(w)
        where = f"{w['kind']}/{w['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts or "/data" in mounts, f"{where}: read-only root needs a writable dir"
            assert c["resources"]["requests"] and c["resources"]["limits"], where
            assert ":" in c["image"] and not c["image"].endswith(":latest"), where


def test_probes(render: Render) -> None:
    objs = render()
    inf = containers(find(objs, "Deployment", "-inference"))[0]
    assert inf["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert inf["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = inf["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # five minutes to load a model
    gw = containers(find(objs, "Deployment", "-gateway"))[0]
    assert gw["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gw["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for suffix in ("-trainer", "-batch-worker"):
        worker = containers(find(objs, "Deployment", suffix))[0]
        assert worker["livenessProbe"]["tcpSocket"]["port"] == "metrics"
    inference_deploy = find(objs, "Deployment", "-inference")
    assert inference_deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_inference_hpa(render: Render) -> None:
    objs = render()
    hpa = find(objs, "HorizontalPodAutoscaler", "-inference")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agnews-inference"}
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 6
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    # the HPA owns the replica count
    assert "replicas" not in find(objs, "Deployment", "-inference")["spec"]
    off = render("values-k3s.yaml")
    assert not [o for o in off if o["kind"] == "HorizontalPodAutoscaler"]
    assert find(off, "Deployment", "-inference")["spec"]["replicas"] == 1


def test_trainer_gpu_scheduling(render: Render) -> None:
    eks = render("values-eks.yaml")
    for obj in (find(eks, "Deployment", "-trainer"), find(eks, "CronJob", "-retrain")):
        spec = pod_spec(obj)
        c = spec["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert spec["nodeSelector"]["agnews.io/pool"] == "gpu"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert not c["image"].endswith("-cpu")
    worker = containers(find(eks, "Deployment", "-trainer"))[0]
    args = worker["args"]
    assert args[args.index("-Q") + 1] == "training" and args[args.index("-c") + 1] == "1"
    assert find(eks, "Deployment", "-trainer")["spec"]["strategy"]["type"] == "Recreate"
    # k3s: the CPU variant, no GPU request, no GPU toleration
    k3s = render("values-k3s.yaml")
    c = containers(find(k3s, "Deployment", "-trainer"))[0]
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert c["image"].endswith("-cpu")
    gpus = render(set_values={"trainer.gpu.count": "2"})
    assert containers(find(gpus, "Deployment", "-trainer"))[0]["resources"]["limits"]["nvidia.com/gpu"] == 2


def test_cronjob_and_workers(render: Render) -> None:
    objs = render()
    cron = find(objs, "CronJob", "-retrain")
    assert cron["apiVersion"] == "batch/v1"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cron)
    assert spec["restartPolicy"] == "Never"
    assert "agnews-train run" in spec["containers"][0]["args"][-1]
    batch = containers(find(objs, "Deployment", "-batch-worker"))[0]
    assert batch["image"].split(":")[0] == "agnews-gateway"  # the gateway image, no torch
    assert batch["args"][batch["args"].index("-Q") + 1] == "batch"
    assert "nvidia.com/gpu" not in json.dumps(batch)


def test_unattended_operation(render: Render) -> None:
    """The reaper runs (one replica, gateway image), Redis refuses rather than evicts, the trainer drains."""
    objs = render()
    reaper_deploy = find(objs, "Deployment", "-reaper")
    assert reaper_deploy["spec"]["replicas"] == 1
    reaper = containers(reaper_deploy)[0]
    assert reaper["args"] == ["agnews-reaper"] and reaper["image"].split(":")[0] == "agnews-gateway"
    env = {e["name"]: e.get("value") for e in reaper["env"]}
    assert env["GATEWAY_MAX_ATTEMPTS"] == "3" and env["GATEWAY_REAPER_METRICS_HOST"] == "0.0.0.0"
    assert {"GATEWAY_REDIS_URL", "GATEWAY_REGISTRY_URI"} <= set(env)
    assert reaper["livenessProbe"]["tcpSocket"]["port"] == "metrics"
    redis_cmd = containers(find(objs, "StatefulSet", "-redis"))[0]["command"][-1]
    assert "--maxmemory 400mb --maxmemory-policy noeviction" in redis_cmd
    assert pod_spec(find(objs, "Deployment", "-trainer"))["terminationGracePeriodSeconds"] == 300
    longer = render(set_values={"trainer.terminationGracePeriodSeconds": "900", "reaper.enabled": "false"})
    assert pod_spec(find(longer, "Deployment", "-trainer"))["terminationGracePeriodSeconds"] == 900
    assert not [o for o in longer if o["metadata"]["name"].endswith("-reaper")]


def test_env_names_follow_the_contract(render: Render) -> None:
    objs = render("values-eks.yaml")
    cm = find(objs, "ConfigMap", "agnews")
    assert cm["data"]["GATEWAY_INFERENCE_URL"] == "http://agnews-inference:8001"
    assert cm["data"]["REGISTRY_URI"] == "s3://agnews-models-example/agnews"
    # worker metrics listeners must bind the pod IP for Prometheus and the tcpSocket liveness probes
    assert cm["data"]["TRAINER_METRICS_HOST"] == cm["data"]["GATEWAY_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert cm["data"]["INFERENCE_INTRA_OP_THREADS"] == "2"
    gw = env_of(containers(find(objs, "Deployment", "-gateway"))[0])
    for name in (
        "GATEWAY_REDIS_URL",
        "GATEWAY_ADMIN_KEYS",
        "GATEWAY_CLIENT_KEYS",
        "GATEWAY_REGISTRY_URI",
        "GATEWAY_S3_REGION",
    ):
        assert name in gw, name
    # the Redis password never appears in plain text: it is expanded from a Secret by the kubelet
    assert gw["GATEWAY_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@agnews-redis:6379/0"
    assert gw["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "agnews-redis-auth"
    names = [e["name"] for e in containers(find(objs, "Deployment", "-gateway"))[0]["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("GATEWAY_REDIS_URL")  # $(VAR) needs it defined first
    inf = env_of(containers(find(objs, "Deployment", "-inference"))[0])
    assert {"INFERENCE_ADMIN_KEYS", "INFERENCE_REGISTRY_URI"} <= inf.keys()
    tr = env_of(containers(find(objs, "Deployment", "-trainer"))[0])
    assert {"TRAINER_REDIS_URL", "TRAINER_REGISTRY_URI"} <= tr.keys()
    # IRSA on EKS: no AWS keys anywhere, the role on the service account
    assert "AWS_ACCESS_KEY_ID" not in json.dumps(objs)
    sa = find(objs, "ServiceAccount", "agnews")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    # k3s: keys from the named Secret
    k3s = env_of(containers(find(render("values-k3s.yaml"), "Deployment", "-inference"))[0])
    assert k3s["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "agnews-aws"


def test_prediction_log_settings_reach_inference(render: Render, render_error: Callable[..., str]) -> None:
    """inference.predictionLog.* become the INFERENCE_PREDICTION_LOG_* settings inference reads (docs/monitoring.md)."""
    data = find(render(), "ConfigMap", "agnews")["data"]
    assert {k: v for k, v in data.items() if k.startswith("INFERENCE_PREDICTION_LOG_")} == {
        "INFERENCE_PREDICTION_LOG_RATE": "1",
        "INFERENCE_PREDICTION_LOG_TEXT": "true",
        "INFERENCE_PREDICTION_LOG_FLUSH_S": "5",
        "INFERENCE_PREDICTION_LOG_FLUSH_ROWS": "2000",
        "INFERENCE_PREDICTION_LOG_MAX_PENDING": "100000",
    }
    # (helm's --set reads integers and booleans, not decimals: rate 0 turns the log off)
    quiet = {"inference.predictionLog.rate": "0", "inference.predictionLog.text": "false"}
    data = find(render(set_values=quiet), "ConfigMap", "agnews")["data"]
    assert (data["INFERENCE_PREDICTION_LOG_RATE"], data["INFERENCE_PREDICTION_LOG_TEXT"]) == ("0", "false")
    assert "rate" in render_error(set_values={"inference.predictionLog.rate": "2"})  # the schema bounds the share


def test_external_redis(render: Render) -> None:
    objs = render(set_values={"redis.enabled": "false", "redis.external.url": "redis://:pw@redis.example:6379/1"})
    assert not [o for o in objs if o["kind"] == "StatefulSet"]
    secret = find(objs, "Secret", "-redis-url")
    assert secret["stringData"]["redis-url"] == "redis://:pw@redis.example:6379/1"
    gw = env_of(containers(find(objs, "Deployment", "-gateway"))[0])
    assert gw["GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "agnews-redis-url", "key": "redis-url"}
    assert "REDIS_PASSWORD" not in gw


def test_redis_statefulset(render: Render) -> None:
    objs = render("values-eks.yaml", set_values={"redis.auth.password": "s3cret-pw"})
    sts = find(objs, "StatefulSet", "-redis")
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "gp3" and claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert "requirepass" in c["command"][-1] and "s3cret-pw" not in json.dumps(c)
    assert find(objs, "Secret", "-redis-auth")["stringData"]["redis-password"] == "s3cret-pw"
    k3s = find(render("values-k3s.yaml"), "StatefulSet", "-redis")
    assert k3s["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "local-path"


def _policy(objs: list[dict], suffix: str) -> dict:
    return find(objs, "NetworkPolicy", suffix)["spec"]


def _components(peers: list[dict]) -> set[str]:
    return {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in peers if "namespaceSelector" not in p
    }


def test_network_policies(render: Render) -> None:
    objs = render()
    deny = _policy(objs, "-default-deny")
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    assert deny["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "agnews"
    # public: gateway and frontend accept anyone on their HTTP port
    for suffix in ("-gateway", "-frontend"):
        rule = _policy(objs, suffix)["ingress"][0]
        assert "from" not in rule and rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    # everyone else only from named peers
    assert _components(_policy(objs, "-redis")["ingress"][0]["from"]) == {
        "gateway",
        "inference",  # the prediction index and label-mix counts (docs/monitoring.md)
        "batch-worker",
        "reaper",
        "trainer",
        "retrain",
    }
    inference_from = _policy(objs, "-inference")["ingress"][0]["from"]
    assert _components(inference_from) == {"gateway", "batch-worker"}
    scrapers = [p for p in inference_from if "namespaceSelector" in p]
    assert scrapers and all(p["namespaceSelector"]["matchLabels"] for p in scrapers)  # not "any namespace"
    for suffix in ("-trainer", "-batch-worker", "-reaper"):
        rule = _policy(objs, suffix)["ingress"][0]
        assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert all("namespaceSelector" in p for p in rule["from"])
    # every pod of the release is selected by some allow policy or stays denied
    restricted = render(set_values={"networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.name": "ingress"})
    gw_rules = _policy(restricted, "-gateway")["ingress"]
    assert gw_rules[0]["from"] == [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]
    assert not [o for o in render(set_values={"networkPolicy.enabled": "false"}) if o["kind"] == "NetworkPolicy"]


def test_egress_is_closed_and_never_reaches_the_metadata_endpoint(render: Render) -> None:
    egress = _policy(render(), "-egress")
    assert egress["policyTypes"] == ["Egress"]
    assert not any("ipBlock" in peer for rule in egress["egress"] for peer in rule.get("to", []))  # no internet
    eks = _policy(render("values-eks.yaml"), "-egress")
    [external] = [peer["ipBlock"] for rule in eks["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    assert external == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}


def test_only_the_trainer_writes_model_files(render: Render) -> None:
    objs = render()

    def registry_mounts(suffix: str) -> list[dict]:
        [container] = containers(find(objs, "Deployment", suffix))
        return [m for m in container["volumeMounts"] if m["name"] == "registry"]

    assert [m.get("readOnly") for m in registry_mounts("-inference")] == [True]
    for suffix in ("-gateway", "-batch-worker"):  # job files and the alias: yes; models/: read-only
        writable, models = registry_mounts(suffix)
        assert not writable.get("readOnly") and models["subPath"] == "models" and models["readOnly"] is True
    assert not any(m.get("readOnly") for m in registry_mounts("-trainer"))


def test_pdbs(render: Render) -> None:
    objs = render()
    pdbs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PodDisruptionBudget"}
    assert set(pdbs) == {"agnews-gateway", "agnews-frontend", "agnews-inference"}
    assert all(p["apiVersion"] == "policy/v1" and p["spec"]["minAvailable"] == 1 for p in pdbs.values())
    # one replica: a PDB with minAvailable 1 would block every node drain, so none is rendered
    single = render("values-k3s.yaml")
    assert not [o for o in single if o["kind"] == "PodDisruptionBudget"]


def test_ingress(render: Render) -> None:
    eks = find(render("values-eks.yaml"), "Ingress", "-gateway")
    assert eks["spec"]["ingressClassName"] == "alb"
    assert eks["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"
    paths = {p["path"]: p["backend"]["service"]["name"] for p in eks["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/v1": "agnews-gateway", "/": "agnews-frontend"}  # /metrics is not public
    k3s = find(render("values-k3s.yaml"), "Ingress", "-gateway")
    assert k3s["spec"]["ingressClassName"] == "traefik"
    tls = find(
        render(set_values={"gateway.ingress.host": "news.example.org", "gateway.ingress.tlsSecretName": "t"}),
        "Ingress",
        "-gateway",
    )
    assert tls["spec"]["tls"] == [{"hosts": ["news.example.org"], "secretName": "t"}]


def test_monitoring_objects_need_the_crds(render: Render) -> None:
    without = render()
    assert not [o for o in without if o["kind"] in ("ServiceMonitor", "PrometheusRule")]
    forced = render(set_values={"monitoring.forceCRDs": "true"})
    assert {o["kind"] for o in forced} >= {"ServiceMonitor", "PrometheusRule"}
    objs = render("values-eks.yaml", monitoring=True)
    sm = find(objs, "ServiceMonitor", "agnews")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {e["port"] for e in sm["spec"]["endpoints"]} == {"http", "metrics"}
    scraped = {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "Service" and o["metadata"]["labels"].get("agnews.io/scrape") == "true"
    }
    assert scraped == {
        "agnews-gateway",
        "agnews-inference",
        "agnews-trainer-metrics",
        "agnews-batch-worker-metrics",
        "agnews-reaper-metrics",
    }
    rule = find(objs, "PrometheusRule", "agnews")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert {
        "AgnewsHighErrorRate",
        "AgnewsHighLatencyP99",
        "AgnewsQueueBacklog",
        "AgnewsTrainingFailed",
        "AgnewsInferenceNotReady",
    } <= alerts
    dash = find(objs, "ConfigMap", "-dashboards")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {"agnews-services.json", "agnews-ml.json"} <= dash["data"].keys()
    for text in dash["data"].values():
        assert json.loads(text)["uid"].startswith("agnews")


def test_config_changes_roll_the_pods(render: Render) -> None:
    def checksum(objs: list[dict]) -> str:
        return find(objs, "Deployment", "-gateway")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render()) != checksum(render(set_values={"gateway.rateLimitPerMinute": "5"}))


def test_images_use_registry_and_tag(render: Render) -> None:
    objs = render(set_values={"image.registry": "1.dkr.ecr.eu-west-1.amazonaws.com", "image.tag": "abc1234"})
    images = {c["image"] for w in workloads(objs) for c in pod_spec(w)["containers"]}
    assert images == {
        "1.dkr.ecr.eu-west-1.amazonaws.com/agnews-gateway:abc1234",
        "1.dkr.ecr.eu-west-1.amazonaws.com/agnews-frontend:abc1234",
        "1.dkr.ecr.eu-west-1.amazonaws.com/agnews-inference:abc1234",
        "1.dkr.ecr.eu-west-1.amazonaws.com/agnews-trainer:abc1234",
        "redis:7.2.5-alpine",
    }


def test_values_files_parse_and_schema_is_strict(tools: dict[str, str]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for f in ("values.yaml", "values-eks.yaml", "values-k3s.yaml"):
        assert isinstance(yaml.safe_load((CHART / f).read_text()), dict)


def test_redis_command_runs_and_requires_the_password(render: Render, tmp_path: Path) -> None:
    """The rendered Redis start command, run with this machine's redis-server (paths moved into tmp_path)."""
    import shutil
    import subprocess
    import time

    import redis

    server = shutil.which("redis-server")
    assert server, "redis-server missing (Debian package redis-server)"
    sts = find(render(), "StatefulSet", "-redis")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][:2] == ["sh", "-c"]
    port = free_port()
    (tmp_path / "data").mkdir()
    script = c["command"][2].replace("/tmp/", f"{tmp_path}/").replace("/data", f"{tmp_path}/data")
    script += f" --port {port} --bind 127.0.0.1"
    password = "pw-with.dots_and~tilde"
    proc = subprocess.Popen(
        ["sh", "-c", script], env={"PATH": f"{Path(server).parent}:/usr/bin:/bin", "REDIS_PASSWORD": password}
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert redis.Redis(port=port, password=password, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
                time.sleep(0.1)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, socket_timeout=1).ping()
        assert oct((tmp_path / "redis.conf").stat().st_mode & 0o777) == "0o600"
        assert redis.Redis(port=port, password=password).config_get("appendonly")["appendonly"] == "yes"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
