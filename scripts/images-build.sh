#!/usr/bin/env bash
# `make images`: build every CPU image of agnews from the repo's Dockerfiles with podman or docker (whichever
# runs here), tagged $IMAGE_TAG (the git SHA), and report each image's size and build time.
#   agnews-gateway   (also the batch worker)      services/gateway/Dockerfile
#   agnews-inference                              services/inference/Dockerfile
#   agnews-frontend                               services/frontend/Dockerfile
#   agnews-trainer:<tag>-cpu                      services/trainer/Dockerfile --target cpu
#   agnews-redis     (the local stack's Redis)    services/deploy/docker/redis.Dockerfile
# Env: IMAGE_ENGINE (auto|podman|docker), IMAGE_BASE (local: the Debian base of scripts/images-base.sh, no
#      registry needed; upstream: the pinned images named in the Dockerfiles), IMAGE_PREFIX (registry/ or
#      localhost/), IMAGE_TAG, TORCH_FIND_LINKS (a local folder holding the torch CPU wheel; default: pip's
#      find-links when it has one; podman mounts it into the build), IMAGES_ONLY (names, space-separated).
# Writes build/images/report.tsv (image, size in bytes, build seconds).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ENGINE="$(bash scripts/images-engine.sh "${IMAGE_ENGINE:-auto}")"
IMAGE_BASE="${IMAGE_BASE:-local}"
PREFIX="${IMAGE_PREFIX:-localhost/}"
TAG="${IMAGE_TAG:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
REPORT="${IMAGES_CACHE:-$ROOT/build/images}/report.tsv"
ONLY="${IMAGES_ONLY:-gateway inference frontend trainer-cpu redis}"
mkdir -p "$(dirname "$REPORT")"

say() { printf '[images] %s\n' "$*" >&2; }

args=()
[ "$ENGINE" = podman ] && args+=(--format docker)   # the docker format keeps HEALTHCHECK
case "$IMAGE_BASE" in
  local) args+=(--build-arg "BASE=$(bash scripts/images-base.sh "$ENGINE")") ;;
  upstream) ;;
  *) say "IMAGE_BASE must be local or upstream, got '$IMAGE_BASE'"; exit 2 ;;
esac
if [ -z "${TORCH_FIND_LINKS+x}" ]; then
  TORCH_FIND_LINKS="$(pip config get global.find-links 2>/dev/null | awk '{print $1}' || true)"
fi
torch_args=()
if [ -n "$TORCH_FIND_LINKS" ] && compgen -G "$TORCH_FIND_LINKS/torch-2.13.0+cpu-*.whl" >/dev/null \
   && [ "$ENGINE" = podman ]; then
  torch_args=(-v "$TORCH_FIND_LINKS:$TORCH_FIND_LINKS:ro" --build-arg "TORCH_FIND_LINKS=$TORCH_FIND_LINKS")
  say "torch CPU wheel from $TORCH_FIND_LINKS"
fi

build() {  # build NAME IMAGE DOCKERFILE [extra args...]
  local name="$1" image="$2" file="$3"
  shift 3
  local start end size
  start="$(date +%s)"
  say "building $image"
  nice -n 10 "$ENGINE" build "${args[@]}" "$@" -f "$file" -t "$image" . >&2
  end="$(date +%s)"
  size="$("$ENGINE" image inspect --format '{{.Size}}' "$image")"
  printf '%s\t%s\t%s\n' "$image" "$size" "$((end - start))" >> "$REPORT"
  say "$name: $((size / 1000000)) MB, built in $((end - start)) s"
}

: > "$REPORT"
for name in $ONLY; do
  case "$name" in
    gateway)     build gateway "${PREFIX}agnews-gateway:$TAG" services/gateway/Dockerfile ;;
    inference)   build inference "${PREFIX}agnews-inference:$TAG" services/inference/Dockerfile "${torch_args[@]}" ;;
    frontend)    build frontend "${PREFIX}agnews-frontend:$TAG" services/frontend/Dockerfile ;;
    trainer-cpu) build trainer-cpu "${PREFIX}agnews-trainer:$TAG-cpu" services/trainer/Dockerfile --target cpu "${torch_args[@]}" ;;
    redis)       build redis "${PREFIX}agnews-redis:$TAG" services/deploy/docker/redis.Dockerfile ;;
    *) say "unknown image '$name'"; exit 2 ;;
  esac
done
say "sizes and build times: $REPORT"
column -t "$REPORT" >&2 || cat "$REPORT" >&2
