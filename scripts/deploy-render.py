#!/usr/bin/env python3
"""Render the chart into plain manifests for kubectl users: k8s/rendered/<component>.yaml.

    python scripts/deploy-render.py            # write k8s/rendered/
    python scripts/deploy-render.py --check    # exit 1 when k8s/rendered/ differs from the chart

Values: helm/agnews/values-k3s.yaml (one EC2 node) with the Redis password and AWS keys in Secrets you create
first (k8s/README.md). ServiceMonitor and PrometheusRule go to prometheus-operator.yaml, for clusters
with the Prometheus Operator.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "agnews"
OUT = ROOT / "k8s" / "rendered"
TOOLS = ROOT / ".tools"
RELEASE, NAMESPACE = "agnews", "agnews"
SET = {
    "redis.auth.existingSecret": "agnews-redis",
    "monitoring.forceCRDs": "true",
}
HEADER = (
    "# Rendered from helm/agnews by scripts/deploy-render.py (values-k3s.yaml); do not edit: change the chart\n"
    "# and run `make k8s-render`. Apply: kubectl apply -n agnews -f k8s/rendered/\n"
)


def helm_template() -> str:
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(TOOLS / "helm/cache"),
        HELM_CONFIG_HOME=str(TOOLS / "helm/config"),
        HELM_DATA_HOME=str(TOOLS / "helm/data"),
    )
    cmd = [
        str(TOOLS / "bin" / "helm"),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "-f",
        str(CHART / "values-k3s.yaml"),
    ]
    for key, value in SET.items():
        cmd += ["--set", f"{key}={value}"]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def split(rendered: str) -> dict[str, str]:
    """One file per component; objects sorted by kind and name so the output is stable."""
    groups: dict[str, list[dict]] = {}
    for doc in yaml.safe_load_all(rendered):
        if not doc:
            continue
        doc.setdefault("metadata", {})["namespace"] = NAMESPACE
        if "coreos.com" in doc["apiVersion"]:
            component = "prometheus-operator"  # needs the CRDs: apply only where they exist
        else:
            component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", "common")
        groups.setdefault(component, []).append(doc)
    files = {}
    for component, docs in sorted(groups.items()):
        docs.sort(key=lambda d: (d["kind"], d["metadata"]["name"]))
        body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in docs)
        files[f"{component}.yaml"] = HEADER + "---\n" + body
    files["namespace.yaml"] = HEADER + yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, sort_keys=False
    )
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = split(helm_template())
    if args.check:
        current = {p.name: p.read_text() for p in OUT.glob("*.yaml")}
        stale = sorted(set(files) ^ set(current) | {n for n in files if current.get(n) != files[n]})
        if stale:
            sys.stderr.write(f"k8s/rendered is out of date ({', '.join(stale)}): run `make k8s-render`\n")
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.yaml"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
