#!/usr/bin/env bash
# What the load benchmarks drive the servers with, installed only where missing: Debian's wrk (bounded
# closed-loop HTTP load) and redis-server (the stack of tests/stack.py starts its own). From the machine's own
# apt sources, like every other script here.
set -euo pipefail

packages=()
command -v wrk >/dev/null 2>&1 || packages+=(wrk)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)

if ((${#packages[@]})); then
    sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    echo "installing from Debian: ${packages[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
