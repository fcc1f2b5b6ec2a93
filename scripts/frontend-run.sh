#!/usr/bin/env bash
# Serve the newsroom page through nginx in the foreground (for `make run`); Ctrl-C stops it.
# Same env as scripts/frontend-render.sh; the rendered config goes to $FRONTEND_PREFIX/nginx.conf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRONTEND_PREFIX="${FRONTEND_PREFIX:-$here/.run/frontend}"
mkdir -p "$FRONTEND_PREFIX"
# nginx reads a relative -c against the -p prefix: hand it absolute paths.
FRONTEND_PREFIX="$(cd "$FRONTEND_PREFIX" && pwd)"
export FRONTEND_PREFIX
listen="${FRONTEND_LISTEN:-127.0.0.1:8080}"

nginx_bin="${NGINX:-$(command -v nginx || true)}"
[[ -n "$nginx_bin" ]] || nginx_bin="$(ls /usr/sbin/nginx 2>/dev/null || true)"
if [[ -z "$nginx_bin" ]]; then
    echo "nginx not found: install it with 'sudo apt-get install nginx' (or scripts/frontend-deps.sh)" >&2
    exit 1
fi

"$here/scripts/frontend-render.sh" "$FRONTEND_PREFIX/nginx.conf"
"$nginx_bin" -e stderr -t -q -c "$FRONTEND_PREFIX/nginx.conf" -p "$FRONTEND_PREFIX"
echo "agnews newsroom page: http://$listen/  (API: /api/ -> ${GATEWAY_URL:-http://127.0.0.1:8000})"
exec "$nginx_bin" -e stderr -c "$FRONTEND_PREFIX/nginx.conf" -p "$FRONTEND_PREFIX"
