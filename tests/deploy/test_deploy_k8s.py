"""k8s/: rendered manifests up to date and valid; cluster configs consistent with the chart's values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from deploy_helpers import CHART, ROOT, run

K8S = ROOT / "k8s"


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_rendered_manifests_are_up_to_date(tools: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy-render.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_rendered_check_notices_a_stale_file(tools: dict[str, str], tmp_path: Path) -> None:
    """Edit one rendered file in a copy of the repo's k8s/rendered: --check must fail."""
    script = (ROOT / "scripts" / "deploy-render.py").read_text()
    fake_root = tmp_path / "repo"
    (fake_root / "scripts").mkdir(parents=True)
    (fake_root / "scripts" / "deploy-render.py").write_text(script)
    (fake_root / "helm").symlink_to(ROOT / "helm")
    (fake_root / ".tools").symlink_to(ROOT / ".tools")
    (fake_root / "k8s" / "rendered").mkdir(parents=True)
    for p in (K8S / "rendered").glob("*.yaml"):
        (fake_root / "k8s" / "rendered" / p.name).write_text(p.read_text())
    script_path = str(fake_root / "scripts" / "deploy-render.py")
    assert subprocess.run([sys.executable, script_path, "--check"], capture_output=True).returncode == 0
    gw = fake_root / "k8s" / "rendered" / "gateway.yaml"
    gw.write_text(gw.read_text().replace("replicas: 1", "replicas: 3"))
    out = subprocess.run([sys.executable, script_path, "--check"], capture_output=True, text=True)
    assert out.returncode == 1 and "gateway.yaml" in out.stderr


def test_rendered_manifests_validate(tools: dict[str, str]) -> None:
    files = sorted((K8S / "rendered").glob("*.yaml"))
    assert {f.name for f in files} >= {
        "gateway.yaml",
        "inference.yaml",
        "trainer.yaml",
        "redis.yaml",
        "namespace.yaml",
        "prometheus-operator.yaml",
    }
    for version in ("1.31.0", "1.34.0"):
        run([tools["kubernetes-validate"], "--strict", "-k", version, *map(str, files)])
    for f in files:
        for doc in load_all(f):
            assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "agnews"
            if f.name != "prometheus-operator.yaml":
                assert "coreos.com" not in doc["apiVersion"], (
                    f"{f.name}: CRD objects belong in prometheus-operator.yaml"
                )
    # no generated secret in git: the Redis password comes from a Secret the user creates
    secrets = [d for f in files for d in load_all(f) if d["kind"] == "Secret"]
    assert not [s for s in secrets if "redis-password" in s.get("stringData", {})]


def test_eksctl_gpu_node_group_matches_values_eks() -> None:
    cluster = yaml.safe_load((K8S / "eks" / "cluster.yaml").read_text())
    assert cluster["kind"] == "ClusterConfig" and cluster["iam"]["withOIDC"] is True
    groups = {g["name"]: g for g in cluster["managedNodeGroups"]}
    gpu = groups["gpu"]
    assert gpu["instanceTypes"][0].startswith(("g4dn", "g5", "g6", "p3", "p4", "p5"))
    values = yaml.safe_load((CHART / "values-eks.yaml").read_text())
    trainer = values["trainer"]
    # the trainer's nodeSelector picks exactly the GPU group's labels, and it tolerates the GPU group's taint
    assert trainer["nodeSelector"].items() <= gpu["labels"].items()
    taint = gpu["taints"][0]
    assert any(t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in trainer["tolerations"])
    assert values["gateway"]["nodeSelector"].items() <= groups["cpu"]["labels"].items()
    # the IRSA role the chart's service account is annotated with exists for that account
    sa = next(s for s in cluster["iam"]["serviceAccounts"] if s["metadata"]["name"] == "agnews")
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("/" + sa["roleName"])
    bucket = values["modelRegistry"]["s3"]["bucket"]
    assert any(bucket in r for st in sa["attachPolicy"]["Statement"] for r in st["Resource"])


def test_device_plugin_runs_on_gpu_nodes(tools: dict[str, str]) -> None:
    path = K8S / "nvidia-device-plugin.yaml"
    run([tools["kubernetes-validate"], "--strict", "-k", "1.34.0", str(path)])
    ds = load_all(path)[0]
    spec = ds["spec"]["template"]["spec"]
    gpu = {g["name"]: g for g in yaml.safe_load((K8S / "eks" / "cluster.yaml").read_text())["managedNodeGroups"]}["gpu"]
    assert spec["nodeSelector"].items() <= gpu["labels"].items()
    assert any(t["key"] == "nvidia.com/gpu" and t["operator"] == "Exists" for t in spec["tolerations"])
    assert ":" in spec["containers"][0]["image"] and not spec["containers"][0]["image"].endswith(":latest")
    run(
        [
            tools["kubernetes-validate"],
            "--strict",
            "-k",
            "1.34.0",
            str(K8S / "eks" / "storageclass-gp3.yaml"),
            str(K8S / "k3s" / "nvidia-runtimeclass.yaml"),
        ]
    )


def test_kube_prometheus_stack_values_pick_up_our_objects() -> None:
    kps = yaml.safe_load((K8S / "monitoring" / "kube-prometheus-stack-values.yaml").read_text())
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    dash = chart["monitoring"]["dashboards"]
    sidecar = kps["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] and sidecar["label"] == dash["label"] and sidecar["labelValue"] == dash["labelValue"]
    assert sidecar["searchNamespace"] == "ALL"
    spec = kps["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    for values_file in ("values-eks.yaml", "values-k3s.yaml"):
        labels = yaml.safe_load((CHART / values_file).read_text())["monitoring"]["labels"]
        assert labels == {"release": "kube-prometheus-stack"}
    # the NetworkPolicies admit exactly this Prometheus
    peer = chart["networkPolicy"]["metricsFrom"][0]
    assert peer["podSelector"]["matchLabels"].items() <= kps["prometheus"]["podLabels"].items()
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    assert not kps["grafana"]["adminPassword"]


def test_k3s_config() -> None:
    cfg = yaml.safe_load((K8S / "k3s" / "config.yaml").read_text())
    assert "traefik" not in cfg.get("disable", []) and cfg["secrets-encryption"] is True
    values = yaml.safe_load((CHART / "values-k3s.yaml").read_text())
    assert values["gateway"]["ingress"]["className"] == "traefik"
    assert values["redis"]["persistence"]["storageClass"] == "local-path"
