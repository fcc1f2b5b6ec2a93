"""Fixtures for the deploy tests: the tools in .tools/, chart rendering, and a real kube-apiserver."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_helpers import ROOT, TOOLS, VENV_BIN, Render, helm_template_cmd, run, tool_env


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    """Paths of helm, kubectl, promtool, hadolint...; installs them into .tools/ on first use."""
    wanted = [TOOLS / "bin" / name for name in ("helm", "kubectl", "hadolint")]
    if not all(p.exists() for p in wanted) or not shutil.which("promtool"):
        subprocess.run(["bash", str(ROOT / "scripts" / "deploy-tools.sh")], check=True, env=tool_env())
    found = {
        "helm": str(TOOLS / "bin" / "helm"),
        "kubectl": str(TOOLS / "bin" / "kubectl"),
        "promtool": shutil.which("promtool") or "",
        "hadolint": str(TOOLS / "bin" / "hadolint") if (TOOLS / "bin" / "hadolint").exists() else "",
        "kubernetes-validate": str(VENV_BIN / "kubernetes-validate"),
        "check-jsonschema": str(VENV_BIN / "check-jsonschema"),
    }
    for name in ("helm", "kubectl", "promtool", "kubernetes-validate", "check-jsonschema"):
        assert found[name] and Path(found[name]).exists(), f"{name} missing: run scripts/deploy-tools.sh"
    return found


@pytest.fixture(scope="session")
def render(tools: dict[str, str]) -> Render:
    """render("values-eks.yaml", set_values={...}, monitoring=True) -> list of objects."""

    def _render(*values_files: str, set_values: dict[str, str] | None = None, monitoring: bool = False) -> list[dict]:
        out = run(helm_template_cmd(tools["helm"], *values_files, set_values=set_values, monitoring=monitoring))
        return [d for d in yaml.safe_load_all(out.stdout) if d]

    return _render


@pytest.fixture(scope="session")
def render_error(tools: dict[str, str]) -> Callable[..., str]:
    """Render expecting failure; returns helm's stderr."""

    def _render_error(*values_files: str, set_values: dict[str, str] | None = None) -> str:
        proc = run(helm_template_cmd(tools["helm"], *values_files, set_values=set_values), check=False)
        assert proc.returncode != 0, f"helm template should have failed; rendered:\n{proc.stdout[:2000]}"
        return proc.stderr

    return _render_error


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real etcd + kube-apiserver (v1.20, built once by scripts/deploy-build-apiserver.sh) on loopback."""
    spec = importlib.util.spec_from_file_location("agnews_test_apiserver", Path(__file__).with_name("apiserver.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.ApiServer(tmp_path_factory.mktemp("kube"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apiserver: needs the real kube-apiserver (built once, cached)")
    config.addinivalue_line("markers", "live: starts the real services (tests/stack.py) to read their /metrics")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.deploy)
            # `make deploy-check` runs these; `make test` runs deploy-check, then every other test.
            if not any(item.get_closest_marker(m) for m in ("apiserver", "live")):
                item.add_marker(pytest.mark.deploy_static)
