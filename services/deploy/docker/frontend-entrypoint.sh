#!/bin/sh
# Frontend image entrypoint: render the nginx.conf template (services/frontend/nginx.conf, @NAME@ tokens)
# into /tmp (the root filesystem is read-only) and exec nginx in the foreground as the current user.
# Same settings as scripts/frontend-render.sh: FRONTEND_LISTEN, GATEWAY_URL, FRONTEND_MAX_BODY, FRONTEND_ROOT,
# FRONTEND_PREFIX; FRONTEND_TEMPLATE for running it outside the image (tests). "--check": nginx -t only.
set -eu
listen="${FRONTEND_LISTEN:-0.0.0.0:8080}"
gateway="${GATEWAY_URL:-http://agnews-gateway:80}"
max_body="${FRONTEND_MAX_BODY:-100m}"
root="${FRONTEND_ROOT:-/usr/share/agnews/public}"
template="${FRONTEND_TEMPLATE:-/etc/agnews/nginx.conf.template}"
prefix="${FRONTEND_PREFIX:-/tmp/nginx}"

gateway="${gateway#http://}"
case "$gateway" in
  *://*) echo "GATEWAY_URL must be http://host:port or host:port, got '${GATEWAY_URL:-}'" >&2; exit 2 ;;
esac
gateway="${gateway%%/*}"
case "$gateway" in
  "") echo "GATEWAY_URL must be http://host:port or host:port, got '${GATEWAY_URL:-}'" >&2; exit 2 ;;
  *:*) ;;
  *) gateway="$gateway:80" ;;
esac
for value in "$listen" "$gateway" "$prefix" "$max_body"; do
  case "$value" in
    *[\|\;\'\"\ ]*) echo "refusing a setting with spaces, quotes, ';' or '|': '$value'" >&2; exit 2 ;;
  esac
done

# behind an Ingress that wrote the client already, pass X-Forwarded-For on (scripts/frontend-render.sh says why)
forwarded='$proxy_add_x_forwarded_for'
[ "${FRONTEND_BEHIND_PROXY:-0}" = 1 ] && forwarded='$http_x_forwarded_for'

mkdir -p "$prefix"
sed -e "s|@LISTEN@|$listen|g" -e "s|@GATEWAY@|$gateway|g" -e "s|@ROOT@|$root|g" \
    -e "s|@PREFIX@|$prefix|g" -e "s|@MAX_BODY@|$max_body|g" -e "s|@FORWARDED_FOR@|$forwarded|g" \
    "$template" > "$prefix/nginx.conf"
[ "${1:-}" = "--check" ] && exec nginx -t -e stderr -c "$prefix/nginx.conf" -p "$prefix"
exec nginx -e stderr -c "$prefix/nginx.conf" -p "$prefix"
