#!/usr/bin/env bash
# Render services/frontend/nginx.conf (a template) into a runnable config.
# usage: scripts/frontend-render.sh OUT_CONF
# env:   FRONTEND_LISTEN   (127.0.0.1:8080)            listen address
#        GATEWAY_URL       (http://127.0.0.1:8000)     gateway base URL or host:port
#        FRONTEND_ROOT     (services/frontend/public)  static files
#        FRONTEND_PREFIX   (.run/frontend)             writable folder: pid, temp files
#        FRONTEND_MAX_BODY (100m)                      nginx upload cap; keep above the gateway's own limit
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: $0 OUT_CONF}"

listen="${FRONTEND_LISTEN:-127.0.0.1:8080}"
gateway="${GATEWAY_URL:-http://127.0.0.1:8000}"
root="${FRONTEND_ROOT:-$here/services/frontend/public}"
prefix="${FRONTEND_PREFIX:-$here/.run/frontend}"
max_body="${FRONTEND_MAX_BODY:-100m}"
# X-Forwarded-For to the gateway: appended (nginx is the first proxy, the default) or, behind a proxy that
# already wrote the client (an Ingress: FRONTEND_BEHIND_PROXY=1), passed on as it is, so the gateway counts
# the same number of trusted hops (GATEWAY_TRUSTED_PROXY_HOPS) on the page's path as on the API's.
forwarded='$proxy_add_x_forwarded_for'
[[ "${FRONTEND_BEHIND_PROXY:-0}" == 1 ]] && forwarded='$http_x_forwarded_for'

# nginx wants host:port in an upstream block: drop the scheme and any path.
if [[ "$gateway" == *://* && "$gateway" != http://* ]]; then
    echo "GATEWAY_URL must be http://host:port or host:port, got '$gateway'" >&2
    exit 2
fi
gateway="${gateway#http://}"
gateway="${gateway%%/*}"
if [[ -z "$gateway" ]]; then
    echo "GATEWAY_URL must be http://host:port or host:port, got '${GATEWAY_URL:-}'" >&2
    exit 2
fi
[[ "$gateway" == *:* ]] || gateway="$gateway:80"

root="$(cd "$root" && pwd)"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
for value in "$listen" "$gateway" "$root" "$prefix" "$max_body"; do
    if [[ "$value" == *[\|\;\'\"[:space:]]* ]]; then
        echo "refusing a setting with spaces, quotes, ';' or '|': '$value'" >&2
        exit 2
    fi
done

mkdir -p "$(dirname "$out")"
sed -e "s|@LISTEN@|$listen|g" \
    -e "s|@GATEWAY@|$gateway|g" \
    -e "s|@ROOT@|$root|g" \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|@MAX_BODY@|$max_body|g" \
    -e "s|@FORWARDED_FOR@|$forwarded|g" \
    "$here/services/frontend/nginx.conf" >"$out"
