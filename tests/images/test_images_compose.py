"""compose.yaml passes each container the settings the Helm chart passes it (static: no engine needed).

The chart is rendered with its default values (helm from .tools/, installed by scripts/deploy-tools.sh);
for every service the compose file must carry the chart's settings with the same values, apart from the
addresses (service names instead of the release's Service names) and secrets (placeholders filled from env).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / ".tools" / "bin" / "helm"
# compose service -> (chart Deployment/StatefulSet, its env prefix in the chart's ConfigMap)
PAIRS = {
    "gateway": ("agnews-gateway", "GATEWAY_"),
    "batch-worker": ("agnews-batch-worker", "GATEWAY_"),
    "reaper": ("agnews-reaper", "GATEWAY_"),
    "inference": ("agnews-inference", "INFERENCE_"),
    "trainer": ("agnews-trainer", "TRAINER_"),
    "frontend": ("agnews-frontend", "FRONTEND_"),
    "redis": ("agnews-redis", "REDIS"),
}
# chart Service addresses -> compose service names (the only values allowed to differ, besides secrets)
ADDRESSES = {"agnews-inference:8001": "inference:8001", "agnews-gateway:80": "gateway:8000"}
# settings that differ on purpose: in compose the frontend nginx is the edge (no Ingress wrote the client in
# X-Forwarded-For before it), so it appends the caller's address itself instead of passing the header on
EDGE = {("frontend", "FRONTEND_BEHIND_PROXY"): ("1", "0")}


@pytest.fixture(scope="module")
def chart() -> dict[str, Any]:
    assert HELM.exists(), "helm missing: scripts/deploy-tools.sh installs it into .tools/"
    tools = REPO / ".tools" / "helm"
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(tools / "cache"),
        HELM_CONFIG_HOME=str(tools / "config"),
        HELM_DATA_HOME=str(tools / "data"),
    )
    argv = [str(HELM), "template", "agnews", str(REPO / "helm/agnews")]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "agnews")
    workloads = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    return {"config": config, "workloads": workloads}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    return services


def chart_env(chart: dict[str, Any], workload: str, prefix: str) -> dict[str, str | None]:
    """What the chart sets in the container: its ConfigMap keys of the prefix, plus its own env (None: secret)."""
    pod = chart["workloads"][workload]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env: dict[str, str | None] = {}
    if container.get("envFrom"):
        env |= {k: v for k, v in chart["config"].items() if k.startswith(prefix)}
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        env[e["name"]] = chart["config"][ref["key"]] if ref else e.get("value")
    return env


@pytest.mark.parametrize("service", list(PAIRS))
def test_compose_service_has_the_charts_settings(service: str, chart: dict[str, Any], compose: dict[str, Any]) -> None:
    workload, prefix = PAIRS[service]
    ours = {k: str(v) for k, v in compose[service].get("environment", {}).items()}
    for key, value in chart_env(chart, workload, prefix).items():
        if key == "REDIS_PASSWORD" and service != "redis":
            assert "${AGNEWS_REDIS_PASSWORD" in ours[f"{prefix.rstrip('_')}_REDIS_URL"]  # folded into the URL
            continue
        assert key in ours, f"{service}: the chart sets {key}, compose.yaml does not"
        if value is None or "$(REDIS_PASSWORD)" in value:
            assert "${AGNEWS_" in ours[key], f"{service}: {key} must come from the environment"
            continue
        for theirs, mine in ADDRESSES.items():
            value = value.replace(theirs, mine)
        if (service, key) in EDGE:
            assert (value, ours[key]) == EDGE[service, key], f"{service}: {key} is an edge setting, see EDGE"
            continue
        assert ours[key] == value, f"{service}: {key}={ours[key]!r}, the chart passes {value!r}"
    container = chart["workloads"][workload]["spec"]["template"]["spec"]["containers"][0]
    if container.get("args"):
        assert compose[service]["command"] == container["args"], service


@pytest.mark.parametrize("service", list(PAIRS))
def test_compose_service_runs_as_the_chart_does(service: str, chart: dict[str, Any], compose: dict[str, Any]) -> None:
    pod = chart["workloads"][PAIRS[service][0]]["spec"]["template"]["spec"]
    security = pod["containers"][0]["securityContext"]
    ours = compose[service]
    uid = pod["securityContext"]["runAsUser"]
    assert ours["user"] == f"{uid}:{pod['securityContext']['runAsGroup']}"
    assert ours["read_only"] is security["readOnlyRootFilesystem"] and "/tmp" in ours["tmpfs"]
    assert ours["cap_drop"] == security["capabilities"]["drop"] == ["ALL"]
    assert "no-new-privileges" in ours["security_opt"] and security["allowPrivilegeEscalation"] is False
    # only the two public doors are published, and only on loopback
    ports = ours.get("ports", [])
    assert all(p.startswith("127.0.0.1:") for p in ports) and (bool(ports) == (service in ("gateway", "frontend")))


def test_compose_file_is_valid_compose_spec(tmp_path: Path) -> None:
    """The Compose Specification schema (what `docker compose` reads); podman-compose runs it in the suite."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    assert checker.exists(), "check-jsonschema missing: scripts/deploy-tools.sh installs it"
    argv = [str(checker), "--builtin-schema", "vendor.compose-spec"]
    ok = subprocess.run([*argv, str(REPO / "compose.yaml")], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text((REPO / "compose.yaml").read_text().replace("read_only: true", "read_only: [yes]"))
    assert subprocess.run([*argv, str(broken)], capture_output=True, check=False).returncode != 0
