#!/usr/bin/env bash
# `make test`: static checks first (lint, types, the deploy checks of `make deploy-check`), then every pytest
# suite in one run: unit, pipeline, stack (real Redis, Celery workers, uvicorn), browser, kube-apiserver, and
# the image smoke suite (tests/images: the images built, the stack run from them with podman or docker).
# AGNEWS_SKIP_IMAGES=1 opts out of the image suite explicitly (said so at the start and the end); without it a
# machine with no container engine fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV="${VENV:-.venv}"
BIN="$VENV/bin"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

step() { printf '\n==> %s\n' "$*"; }

step "frontend/browser tools (nginx, chromium, playwright) where missing"
PYTHON="$BIN/python" bash scripts/frontend-deps.sh

if [ "${AGNEWS_SKIP_IMAGES:-0}" = 1 ]; then
    step "container images: NOT tested (AGNEWS_SKIP_IMAGES=1)"
else
    step "container engine for the image smoke suite (podman, buildah, podman-compose) where missing"
    bash scripts/images-tools.sh
    bash scripts/images-engine.sh >/dev/null
fi

step "lint and type checks"
make --no-print-directory lint typecheck

step "deploy static checks (make deploy-check: tools, chart lint, manifests, dashboards, CircleCI, Dockerfiles)"
make --no-print-directory deploy-check

step "pytest: every other suite (the static deploy tests ran just above)"
"$BIN/pytest" tests -m "not deploy_static" "$@"
[ "${AGNEWS_SKIP_IMAGES:-0}" = 1 ] && step "reminder: the image smoke suite was NOT run (AGNEWS_SKIP_IMAGES=1)"
exit 0
