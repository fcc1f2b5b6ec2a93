#!/usr/bin/env bash
# `make test`: every pytest suite, then the static deploy checks when they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$BIN/pytest" tests "$@"
