#!/usr/bin/env bash
# `make run`: the whole agnews stack on this machine, in the foreground. Ctrl-C (or SIGTERM) stops it all.
#
#   Redis          the system one when redis://127.0.0.1:6379 answers, else `redis-server` on $REDIS_PORT
#   trainer        Celery training worker (queue training, concurrency 1), metrics on :$TRAINER_METRICS_PORT
#   batch worker   Celery batch worker (queue batch), metrics on :$GATEWAY_WORKER_METRICS_PORT
#   reaper         agnews-reaper (re-queues jobs whose worker was lost, deletes expired files), :$GATEWAY_REAPER_METRICS_PORT
#   inference      agnews-inference on 127.0.0.1:$INFERENCE_PORT
#   gateway        agnews-gateway on 127.0.0.1:$GATEWAY_PORT (the public API, /docs)
#   frontend       nginx on $FRONTEND_LISTEN (when services/frontend and scripts/frontend-run.sh exist)
#
# Env: DATA (hf:fancyzhx/ag_news), REGISTRY (registry), TRAIN (minilm-blend; none = no follow-up run), VENV (.venv),
#      REDIS_URL (use this Redis), REDIS_PORT (6380: own redis-server), GATEWAY_PORT (8000),
#      INFERENCE_PORT (8001), FRONTEND_LISTEN (127.0.0.1:8080), RUN_DIR (.run).
# With no champion in the registry it first trains the tfidf preset (about a minute) so the stack serves at
# once, then queues a $TRAIN training job through the gateway, promoted only if it beats the champion.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
VENV="${VENV:-.venv}"
BIN="$(cd "$VENV/bin" && pwd)"
DATA="${DATA:-hf:fancyzhx/ag_news}"
REGISTRY="${REGISTRY:-registry}"
TRAIN="${TRAIN:-minilm-blend}"
RUN_DIR="${RUN_DIR:-.run}"
GATEWAY_PORT="${GATEWAY_PORT:-8000}"
INFERENCE_PORT="${INFERENCE_PORT:-8001}"
FRONTEND_LISTEN="${FRONTEND_LISTEN:-127.0.0.1:8080}"
export TRAINER_METRICS_PORT="${TRAINER_METRICS_PORT:-9101}"
export GATEWAY_WORKER_METRICS_PORT="${GATEWAY_WORKER_METRICS_PORT:-9102}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PATH="$BIN:$PATH"

mkdir -p "$RUN_DIR/logs"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
LOGS="$RUN_DIR/logs"
[[ "$REGISTRY" == s3://* || "$REGISTRY" == file://* ]] || { mkdir -p "$REGISTRY"; REGISTRY="$(cd "$REGISTRY" && pwd)"; }

say() { printf '[run] %s\n' "$*"; }

# Every process starts in a session of its own (setsid): stopping a session reaches everything it spawned
# (Celery pool children, nginx workers, uvicorn reloaders) even when one of them changed its process group.
pids=()
names=()
ports=()
session_pids() { ps -eo pid=,sid= | awk -v sid="$1" '$2 == sid {print $1}'; }
signal_sessions() {
    local sig="$1" sid
    for sid in "${pids[@]}"; do
        kill "-$sig" -- "-$sid" 2>/dev/null || true
        # shellcheck disable=SC2046
        kill "-$sig" $(session_pids "$sid") 2>/dev/null || true
    done
}
alive_sessions() {
    local sid
    for sid in "${pids[@]}"; do [[ -n "$(session_pids "$sid")" ]] && return 0; done
    return 1
}
cleanup() {
    trap - INT TERM EXIT
    say "stopping..."
    signal_sessions TERM
    for _ in $(seq 1 150); do alive_sessions || break; sleep 0.1; done  # warm shutdowns: up to 15 s
    if alive_sessions; then
        say "still running after 15 s: killing"
        signal_sessions KILL
        for _ in $(seq 1 50); do alive_sessions || break; sleep 0.1; done
    fi
    local port held=()
    for port in "${ports[@]}"; do
        for _ in $(seq 1 50); do port_free "$port" && break; sleep 0.1; done
        port_free "$port" || held+=("$port")
    done
    if ((${#held[@]})); then say "ports still in use: ${held[*]} (not ours?)"; else say "stopped; ports free"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: run CMD in its own session (so its children stop with it), logging to $LOGS/NAME.log
start() {
    local name="$1"
    shift
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    pids+=("$!")
    names+=("$name")
    say "$name started (pid $!, log $LOGS/$name.log)"
}

# own PORT NAME: fail now if PORT is taken (a stack left over?), and free it again when stopping
own() {
    port_free "$1" || { say "port $1 ($2) is already in use: is another stack still running? stop it first"; exit 1; }
    ports+=("$1")
}

# wait_url URL SECONDS NAME: until URL answers 200; fails with the log tail when the process died
wait_url() {
    local url="$1" seconds="$2" name="$3" pid="${pids[${#pids[@]}-1]}"
    for _ in $(seq 1 $((seconds * 5))); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            sleep 0.5  # someone else's server on that port answers too: make sure ours is still up
            kill -0 "$pid" 2>/dev/null && return 0
        fi
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$LOGS/$name.log" >&2; say "$name exited"; return 1; }
        sleep 0.2
    done
    tail -n 30 "$LOGS/$name.log" >&2
    say "$name not ready at $url after ${seconds}s"
    return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# -- admin key ---------------------------------------------------------------------------------------------
KEY_FILE="$RUN_DIR/admin-key"
if [[ ! -s "$KEY_FILE" ]]; then
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$KEY_FILE")
    say "generated an admin key in $KEY_FILE"
fi
ADMIN_KEY="$(cat "$KEY_FILE")"

# -- Redis -------------------------------------------------------------------------------------------------
if [[ -z "${REDIS_URL:-}" ]]; then
    if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        REDIS_URL="redis://127.0.0.1:6379/0"
        say "using the system Redis at $REDIS_URL"
    else
        REDIS_PORT="${REDIS_PORT:-6380}"
        if ! port_free "$REDIS_PORT"; then
            REDIS_PORT="$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
        fi
        command -v redis-server >/dev/null || { say "no Redis on 6379 and no redis-server: apt-get install redis-server"; exit 1; }
        mkdir -p "$RUN_DIR/redis"
        ports+=("$REDIS_PORT")
        start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" --save 60 1 \
            --appendonly yes --maxmemory "${REDIS_MAXMEMORY:-1gb}" --maxmemory-policy noeviction
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
        for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    fi
fi

export GATEWAY_REDIS_URL="$REDIS_URL" TRAINER_REDIS_URL="$REDIS_URL"
export GATEWAY_REGISTRY_URI="$REGISTRY" TRAINER_REGISTRY_URI="$REGISTRY" INFERENCE_REGISTRY_URI="$REGISTRY"
export GATEWAY_INFERENCE_URL="http://127.0.0.1:$INFERENCE_PORT"
export GATEWAY_ADMIN_KEYS="$ADMIN_KEY" GATEWAY_INFERENCE_ADMIN_KEY="$ADMIN_KEY" INFERENCE_ADMIN_KEYS="$ADMIN_KEY"
export GATEWAY_TRUSTED_PROXY_HOPS="${GATEWAY_TRUSTED_PROXY_HOPS:-1}"  # only local nginx sits in front
export TRAINER_DATA="$DATA" TRAINER_WORK_DIR="${TRAINER_WORK_DIR:-$RUN_DIR/trainer}"

champion() {
    "$BIN/python" - "$REGISTRY" <<'PY'
import sys
from agnews_core.settings import RegistrySettings
alias = RegistrySettings(registry_uri=sys.argv[1]).open_registry().champion()
print(alias.version if alias else "")
PY
}

has_preset() {
    "$BIN/python" - "$REGISTRY" "$1" <<'PY'
import sys
from agnews_core.settings import RegistrySettings
versions = RegistrySettings(registry_uri=sys.argv[1]).open_registry().list_versions()
sys.exit(0 if any(m.preset == sys.argv[2] for m in versions) else 1)
PY
}

# -- a champion to serve at once ---------------------------------------------------------------------------
if [[ -z "$(champion)" ]]; then
    say "no champion in $REGISTRY: training the tfidf preset first (about a minute; log $LOGS/bootstrap.log)"
    "$BIN/agnews-train" run --preset tfidf --data "$DATA" --registry "$REGISTRY" --work-dir "$TRAINER_WORK_DIR" \
        >>"$LOGS/bootstrap.log" 2>&1 || { tail -n 30 "$LOGS/bootstrap.log" >&2; say "tfidf training failed"; exit 1; }
fi
say "champion: $(champion)"

# -- workers and servers -----------------------------------------------------------------------------------
export GATEWAY_REAPER_METRICS_PORT="${GATEWAY_REAPER_METRICS_PORT:-9103}"
own "$GATEWAY_PORT" gateway
own "$INFERENCE_PORT" inference
own "$TRAINER_METRICS_PORT" "training worker metrics"
own "$GATEWAY_WORKER_METRICS_PORT" "batch worker metrics"
own "$GATEWAY_REAPER_METRICS_PORT" "reaper metrics"
start training "$BIN/celery" -A agnews_trainer.worker:celery_app worker -Q training -c 1 -n "training@%h" -l info
start batch "$BIN/celery" -A agnews_gateway.worker:celery_app worker -Q batch -c 2 -n "batch@%h" -l info
start reaper "$BIN/agnews-reaper"
start inference "$BIN/agnews-inference" --host 127.0.0.1 --port "$INFERENCE_PORT"
wait_url "http://127.0.0.1:$INFERENCE_PORT/readyz" 300 inference
start gateway "$BIN/agnews-gateway" --host 127.0.0.1 --port "$GATEWAY_PORT"
wait_url "http://127.0.0.1:$GATEWAY_PORT/readyz" 60 gateway

FRONTEND=""
if [[ -d services/frontend && -x scripts/frontend-run.sh ]]; then
    if command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; then
        export GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" FRONTEND_LISTEN FRONTEND_PREFIX="$RUN_DIR/frontend"
        own "${FRONTEND_LISTEN##*:}" frontend
        start frontend scripts/frontend-run.sh
        wait_url "http://$FRONTEND_LISTEN/" 30 frontend && FRONTEND="http://$FRONTEND_LISTEN/"
    else
        say "nginx not installed: no frontend (sudo apt-get install nginx)"
    fi
fi

# -- the follow-up training run ----------------------------------------------------------------------------
if [[ "$TRAIN" != "none" ]] && ! has_preset "$TRAIN"; then
    job="$(curl -fsS -X POST "http://127.0.0.1:$GATEWAY_PORT/v1/training-jobs" \
        -H "Authorization: Bearer $ADMIN_KEY" -H "Content-Type: application/json" \
        -H "Idempotency-Key: make-run-$TRAIN-$(date +%Y%m%d)" -d "{\"preset\": \"$TRAIN\"}")" \
        && say "queued a $TRAIN training job: $job" || say "could not queue the $TRAIN training job"
fi

cat <<EOF

  agnews is running (logs in $LOGS):
    gateway     http://127.0.0.1:$GATEWAY_PORT   (API docs: http://127.0.0.1:$GATEWAY_PORT/docs)
    inference   http://127.0.0.1:$INFERENCE_PORT
    frontend    ${FRONTEND:-not started}
    redis       $REDIS_URL
    metrics     gateway /metrics, inference /metrics, training worker :$TRAINER_METRICS_PORT, batch worker :$GATEWAY_WORKER_METRICS_PORT, reaper :$GATEWAY_REAPER_METRICS_PORT
    admin key   $KEY_FILE   (Authorization: Bearer \$(cat $KEY_FILE))
    jobs        curl http://127.0.0.1:$GATEWAY_PORT/v1/jobs

  Ctrl-C stops everything; so does any one of these processes exiting.
EOF

# Stay up while everything runs; if one process dies, say which and stop all of them.
while true; do
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[i]}" 2>/dev/null; then
            say "${names[i]} (pid ${pids[i]}) exited; see $LOGS/${names[i]}.log; stopping the whole stack"
            exit 1
        fi
    done
    sleep 1
done
