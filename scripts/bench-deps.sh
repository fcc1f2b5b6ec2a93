#!/usr/bin/env bash
# What the load benchmarks drive the servers with, installed only where missing: Debian's wrk (bounded
# closed-loop HTTP load) and redis-server (the stack of tests/stack.py starts its own). From the machine's own
# apt sources, like every other script here.
set -euo pipefail

packages=()
command -v wrk >/dev/null 2>&1 || packages+=(wrk)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)

"$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" ${packages[@]+"${packages[@]}"}
