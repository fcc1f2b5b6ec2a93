"""Helpers shared by the deploy tests (paths, tool environment, chart rendering, object lookup)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
CHART = ROOT / "helm" / "agnews"
VENV_BIN = Path(sys.executable).parent
MONITORING_API = "monitoring.coreos.com/v1"

Render = Callable[..., list[dict[str, Any]]]


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(TOOLS / "helm" / "cache"),
        HELM_CONFIG_HOME=str(TOOLS / "helm" / "config"),
        HELM_DATA_HOME=str(TOOLS / "helm" / "data"),
        PATH=f"{TOOLS / 'bin'}:{VENV_BIN}:{env.get('PATH', '')}",
    )
    return env


def run(cmd: list[str], *, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def helm_template_cmd(
    helm: str,
    *values_files: str,
    set_values: dict[str, str] | None = None,
    monitoring: bool = False,
    release: str = "agnews",
    namespace: str = "agnews",
) -> list[str]:
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace]
    for f in values_files:
        cmd += ["-f", str(CHART / f) if not os.path.isabs(f) else f]
    for key, value in (set_values or {}).items():
        cmd += ["--set", f"{key}={value}"]
    if monitoring:
        cmd += ["--api-versions", MONITORING_API]
    return cmd


def find(objs: list[dict], kind: str, name_suffix: str = "") -> dict:
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(hits) == 1, f"expected one {kind} *{name_suffix}, found {[o['metadata']['name'] for o in hits]}"
    return hits[0]


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]
