#!/usr/bin/env bash
# The agnews stack from its images (compose.yaml) with podman-compose, or `docker compose` where docker runs.
#   scripts/images-stack.sh up      seed a tfidf champion when the registry volume has none, start every
#                                   service, wait until the page and the API answer; prints the URLs and the
#                                   seconds from `compose up` to ready
#   scripts/images-stack.sh down    stop and remove the containers (AGNEWS_DOWN_VOLUMES=1: the volumes too)
#   scripts/images-stack.sh ps      the containers and their state
# Env: AGNEWS_PROJECT (agnews), AGNEWS_TAG (git SHA), IMAGE_ENGINE (auto), AGNEWS_GATEWAY_PORT (8000),
#      AGNEWS_FRONTEND_PORT (8080), AGNEWS_DATA_DIR + AGNEWS_TRAINER_DATA (compose.yaml), AGNEWS_SEED_ARGS
#      (extra `agnews-train run` flags for the seed champion), AGNEWS_READY_TIMEOUT_S (180).
# Secrets (AGNEWS_REDIS_PASSWORD, AGNEWS_ADMIN_KEY) are generated once into .run/images/<project>.env.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ENGINE="$(bash scripts/images-engine.sh "${IMAGE_ENGINE:-auto}")"
export AGNEWS_PROJECT="${AGNEWS_PROJECT:-agnews}"
export AGNEWS_TAG="${AGNEWS_TAG:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
export AGNEWS_GATEWAY_PORT="${AGNEWS_GATEWAY_PORT:-8000}" AGNEWS_FRONTEND_PORT="${AGNEWS_FRONTEND_PORT:-8080}"
READY_TIMEOUT="${AGNEWS_READY_TIMEOUT_S:-180}"
if [ "$ENGINE" = podman ]; then COMPOSE=(podman-compose); else COMPOSE=(docker compose); fi
COMPOSE+=(-p "$AGNEWS_PROJECT" -f "$ROOT/compose.yaml")

say() { printf '[images-stack] %s\n' "$*" >&2; }

secrets="$ROOT/.run/images/$AGNEWS_PROJECT.env"
if [ ! -s "$secrets" ]; then
  mkdir -p "$(dirname "$secrets")"
  (umask 077 && printf 'AGNEWS_REDIS_PASSWORD=%s\nAGNEWS_ADMIN_KEY=%s\n' \
    "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" > "$secrets")
fi
set -a; . "$secrets"; set +a
export AGNEWS_REDIS_PASSWORD="${AGNEWS_REDIS_PASSWORD}" AGNEWS_ADMIN_KEY="${AGNEWS_ADMIN_KEY}"

# until URL answers 200 or the deadline passes
wait_url() {
  local url="$1" deadline="$2"
  until python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "$url not ready after ${READY_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}

# the champion version in the registry volume ("none" when there is none; empty when the probe failed)
seed_champion_probe() {
  local probe='from agnews_core.settings import RegistrySettings as R; c = R(registry_uri="/registry").open_registry().champion(); print("AGNEWS_CHAMPION=" + (c.version if c else "none"))'
  "${COMPOSE[@]}" run --rm --no-deps -T trainer python -c "$probe" 2>/dev/null | tr -d '\r' | sed -n 's/^AGNEWS_CHAMPION=//p' | tail -1
}

up() {
  # a champion to serve at once: tfidf trains in about a minute on the trainer image, once per registry volume
  # podman-compose 1.0 drops the exit code of `run`: the probe prints its answer on a line of its own
  local champion
  champion="$(seed_champion_probe)"
  [ -n "$champion" ] || { say "could not read the registry volume with the trainer image"; return 1; }
  if [ "$champion" = none ]; then
    say "no champion in the registry volume: training tfidf (${AGNEWS_TRAINER_DATA:-hf:fancyzhx/ag_news})"
    # shellcheck disable=SC2086  # AGNEWS_SEED_ARGS is a list of flags
    "${COMPOSE[@]}" run --rm --no-deps -T trainer agnews-train run --preset tfidf \
      --data "${AGNEWS_TRAINER_DATA:-hf:fancyzhx/ag_news}" --registry /registry --work-dir /work/seed \
      ${AGNEWS_SEED_ARGS:-} >&2
    champion="$(seed_champion_probe)"
    [ -n "$champion" ] && [ "$champion" != none ] || { say "the tfidf seed run published no champion"; return 1; }
  fi
  say "champion: $champion"
  local start deadline
  start="$(date +%s.%N)"
  deadline=$(( $(date +%s) + READY_TIMEOUT ))
  "${COMPOSE[@]}" up -d >&2
  wait_url "http://127.0.0.1:$AGNEWS_GATEWAY_PORT/readyz" "$deadline"
  wait_url "http://127.0.0.1:$AGNEWS_FRONTEND_PORT/" "$deadline"
  local took
  took="$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$start")"
  say "ready ${took}s after compose up: page http://127.0.0.1:$AGNEWS_FRONTEND_PORT/, API http://127.0.0.1:$AGNEWS_GATEWAY_PORT/docs"
  say "admin key: AGNEWS_ADMIN_KEY in $secrets"
  echo "ready_s=$took"
}

case "${1:-}" in
  up) up ;;
  down)
    "${COMPOSE[@]}" down $([ "${AGNEWS_DOWN_VOLUMES:-0}" = 1 ] && echo -v) >&2
    # podman-compose 1.0 leaves the project's network behind
    [ "$ENGINE" != podman ] || podman network rm -f "${AGNEWS_PROJECT}_default" >/dev/null 2>&1 || true ;;
  ps) "${COMPOSE[@]}" ps ;;
  *) echo "usage: $0 up|down|ps" >&2; exit 2 ;;
esac
