#!/usr/bin/env bash
# Install the Debian packages named as arguments from the machine's own apt sources, as root or through sudo;
# nothing to do without arguments. The *-deps.sh scripts decide what is missing and call this.
set -euo pipefail
(($#)) || exit 0
sudo=()
[[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
echo "installing from Debian: $*"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
