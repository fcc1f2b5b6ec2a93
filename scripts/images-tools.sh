#!/usr/bin/env bash
# Install what `make images` / `make images-test` need on a fresh Debian/Ubuntu machine (idempotent):
# podman + buildah (Debian's), runc, fuse-overlayfs, debootstrap (for the local base image), netavark +
# aardvark-dns (user networks with service names), podman-compose. Recipe: ../shared/TOOLING.md.
# Two machine quirks are handled here: crun refuses this kernel's hybrid cgroups (we select runc) and root
# cannot raise rlimits (we pin fixed default ulimits). An existing containers.conf is left alone.
set -euo pipefail

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(buildah podman runc fuse-overlayfs debootstrap uidmap slirp4netns containernetworking-plugins
      netavark aardvark-dns golang-github-containers-common podman-compose)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # apt may be busy with a teammate's install: wait for the lock rather than fail
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

conf=/etc/containers/containers.conf
if [ ! -f "$conf" ]; then
  $SUDO mkdir -p /etc/containers
  $SUDO tee "$conf" >/dev/null <<'CONF'
# written by agnews scripts/images-tools.sh: runc (crun refuses hybrid cgroups here), fixed ulimits
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
fi
podman --version
buildah --version
podman-compose --version 2>/dev/null | tail -1 || true
