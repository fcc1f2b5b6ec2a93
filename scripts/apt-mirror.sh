#!/usr/bin/env bash
# Print this machine's Debian mirror (never a hard-coded host): the first URIs: line of a deb822 source in
# /etc/apt/sources.list.d/*.sources, else the first URL of a `deb` line in /etc/apt/sources.list(.d/*.list).
# Exit 1 (with the reason on stderr) when the machine has none.
set -euo pipefail
mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$mirror" ] || mirror="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit}}' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 || true)"
[ -n "$mirror" ] || { echo "no apt mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/" >&2; exit 1; }
echo "$mirror"
