#!/usr/bin/env bash
# Print the container engine to use: podman when it runs, else docker when its daemon answers. A docker CLI
# without a daemon does not count. Usage: scripts/images-engine.sh [auto|podman|docker]; exit 1 (with the
# reason on stderr) when none can run, so callers fail loudly instead of skipping.
set -euo pipefail
want="${1:-auto}"
for engine in podman docker; do
  [ "$want" = auto ] || [ "$want" = "$engine" ] || continue
  if command -v "$engine" >/dev/null && "$engine" info >/dev/null 2>&1; then
    echo "$engine"; exit 0
  fi
done
echo "no container engine runs here (wanted: $want): install podman with scripts/images-tools.sh" >&2
exit 1
