"""The CircleCI pipeline: valid against the CircleCI config schema and wired the way issue 5 asks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import ROOT, run

CONFIG = ROOT / ".circleci" / "config.yml"


@pytest.fixture(scope="module")
def cfg() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def workflow_jobs(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = {}
    for entry in cfg["workflows"]["ci-cd"]["jobs"]:
        name, spec = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        jobs[name] = spec or {}
    return jobs


def steps_text(cfg: dict[str, Any], job: str) -> str:
    """A job's steps with the commands it uses expanded one level (what finally runs)."""
    text = yaml.safe_dump(cfg["jobs"][job]["steps"])
    for name, command in cfg.get("commands", {}).items():
        if re.search(rf"(^|\s|-\s){re.escape(name)}\b", text):
            text += yaml.safe_dump(command["steps"])
    for name, command in cfg.get("commands", {}).items():  # commands used by commands
        if re.search(rf"-\s{re.escape(name)}\b", text) and yaml.safe_dump(command["steps"]) not in text:
            text += yaml.safe_dump(command["steps"])
    return text


def test_schema(tools: dict[str, str], tmp_path: Path) -> None:
    out = run([tools["check-jsonschema"], "--builtin-schema", "vendor.circle-ci", str(CONFIG)])
    assert "ok" in out.stdout
    broken = tmp_path / "config.yml"
    broken.write_text(CONFIG.read_text().replace("version: 2.1", "version: two"))
    assert run([tools["check-jsonschema"], "--builtin-schema", "vendor.circle-ci", str(broken)], check=False).returncode


def test_checks_run_make_targets(cfg: dict[str, Any]) -> None:
    assert "make lint" in steps_text(cfg, "lint")
    assert "make typecheck" in steps_text(cfg, "typecheck")
    assert "make test" in steps_text(cfg, "test")
    assert "make deploy-check" in steps_text(cfg, "deploy-check") and "make helm-lint" in steps_text(
        cfg, "deploy-check"
    )
    assert "-m apiserver" in steps_text(cfg, "deploy-apiserver")


def test_tests_get_a_redis_service_container(cfg: dict[str, Any]) -> None:
    executor = cfg["executors"][cfg["jobs"]["test"]["executor"]]
    images = [d["image"] for d in executor["docker"]]
    assert len(images) >= 2 and any(i.startswith("cimg/redis:") for i in images[1:])


def test_caches(cfg: dict[str, Any]) -> None:
    text = yaml.safe_dump(cfg["commands"])
    assert "restore_cache" in text and "save_cache" in text
    assert "venv-v1-{{ arch }}-{{ checksum" in text and "paths:\n      - .venv" in text
    assert "paths:\n      - .tools" in text
    assert "kube-apiserver-v1" in steps_text(cfg, "deploy-apiserver")


def test_images_pushed_to_ecr_with_sha_and_semver(cfg: dict[str, Any]) -> None:
    text = steps_text(cfg, "build-images")
    assert "aws ecr get-login-password" in text
    assert 'IMAGE_TAG="$CIRCLE_SHA1"' in text and "make images-push" in text and "make images-gpu" in text
    assert "${CIRCLE_TAG#v}" in text
    mk = (ROOT / "mk" / "images.mk").read_text() + (ROOT / "scripts" / "images-build.sh").read_text()
    for image in ("agnews-gateway", "agnews-inference", "agnews-frontend", "agnews-trainer"):
        assert f"{image}:$(IMAGE_TAG)" in mk
        assert image in text
    assert "--target cpu" in mk and "--target gpu" in mk


def test_images_smoke_tested_before_any_push(cfg: dict[str, Any]) -> None:
    """Every branch builds the images and runs the stack from them; the push job runs that suite again first."""
    jobs = workflow_jobs(cfg)
    assert "images" in jobs["build-images"]["requires"] and "tags" in jobs["images"]["filters"]
    assert "branches" not in jobs["images"]["filters"]  # every branch, not only main
    for job in ("images", "build-images"):
        text = steps_text(cfg, job)
        assert "scripts/images-tools.sh" in text and "make images-test" in text and "IMAGE_BASE=upstream" in text
    steps = yaml.safe_dump(cfg["jobs"]["build-images"]["steps"])  # in order, commands not expanded
    assert steps.index("images-smoke") < steps.index("make images-push")
    assert "make images-test" in yaml.safe_dump(cfg["commands"]["images-smoke"])
    # the docker-executor test job cannot run containers: it opts out of the image suite explicitly
    assert cfg["jobs"]["test"]["environment"]["AGNEWS_SKIP_IMAGES"] == "1"


def test_deploys(cfg: dict[str, Any]) -> None:
    jobs = workflow_jobs(cfg)
    mk = (ROOT / "mk" / "deploy.mk").read_text()
    assert "upgrade --install" in mk and "--atomic" in mk
    staging, prod, hold = jobs["deploy-staging"], jobs["deploy-production"], jobs["hold-production"]
    assert staging["filters"]["branches"]["only"] == ["main"] and staging["requires"] == ["build-images"]
    assert hold["type"] == "approval"
    assert prod["requires"] == ["hold-production"]
    assert prod["filters"]["branches"]["ignore"] == "/.*/" and "tags" in prod["filters"]
    tag_re = prod["filters"]["tags"]["only"].strip("/")
    assert re.match(tag_re, "v1.2.3") and not re.match(tag_re, "v1.2") and not re.match(tag_re, "latest")
    # every job upstream of production also runs on tags, or CircleCI would never reach it
    needed = {"hold-production"}
    while needed:
        name = needed.pop()
        assert "tags" in jobs[name].get("filters", {}), f"{name} does not run on release tags"
        needed |= set(jobs[name].get("requires", []))
    assert "make helm-deploy" in steps_text(cfg, "deploy-staging")
    assert "agnews-deploy" in steps_text(cfg, "deploy-production")


def test_secrets_only_via_contexts(cfg: dict[str, Any]) -> None:
    jobs = workflow_jobs(cfg)
    for name in ("build-images", "deploy-staging", "deploy-production"):
        assert "agnews-aws" in jobs[name]["context"], name
    assert "agnews-staging" in jobs["deploy-staging"]["context"]
    assert "agnews-production" in jobs["deploy-production"]["context"]
    for name in ("lint", "typecheck", "test", "deploy-check"):
        assert "context" not in jobs[name], f"{name} needs no secrets"
    text = CONFIG.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"(?i)(secret|password|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{12,}", text)
    assert "CIRCLE_OIDC_TOKEN" in text  # short-lived credentials instead of stored keys
